"""Local mode only: an embedded moto server, its resources and demo data.

``make run`` runs ``python -m webapp.local``. Production code never imports this
package, and the Lambda zip leaves it out (``tests/test_layout.py`` checks both).
"""
