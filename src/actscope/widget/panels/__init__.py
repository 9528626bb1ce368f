"""The explorer's panels, one module each, mirrored by ``js/src/panels/<panel>.ts``."""
