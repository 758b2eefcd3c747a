"""The ``synapsis-actors`` command line (``main.py``).

Kept out of ``import synapsis_actors``: nothing in the library imports this
package, and rich / hypercorn are imported only by the commands that use them.
"""
