"""``python -m synapsis_actors``: the ``synapsis-actors`` command line."""

from .cli.main import run

if __name__ == "__main__":
    run()
