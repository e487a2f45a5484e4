"""Shared assertion for the CLI's error contract: exit code 1 and exactly one line "error: ..." naming the
problem, no traceback."""

from __future__ import annotations


def assert_one_line_error(result, pattern: str) -> None:
    """``result``: a typer CliRunner result; ``pattern``: text the message must contain (case-insensitive)."""
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert "error:" in text and pattern.lower() in text.lower(), text
    assert len(text.splitlines()) == 1, text
    assert "Traceback" not in text
