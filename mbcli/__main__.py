"""``python -m mbcli`` (also what ``torchrun --nproc_per_node N -m mbcli train ...`` runs)."""

from mbcli.cli.main import app

app(prog_name="mbcli")
