"""``mbcli bench``'s measurements: the flows' speed and memory (speed.py) and training throughput (training.py).
They sit above both the flows and training, which they time, and below the CLI, which prints them."""
