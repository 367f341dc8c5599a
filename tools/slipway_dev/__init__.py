"""slipway's developer tooling: the `slipway` command, the embedded local cloud and the template reader.

Installed with the project (``pip install -e '.[local]'``), never shipped to Lambda: the layer
(``layers/slipway/``) holds only the runtime package ``slipway``. This package may import ``slipway``;
``slipway`` never imports this one (``tests/unit/test_layer_contents.py`` checks).
"""
