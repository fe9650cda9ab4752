"""The expert architecture, the shared initialisation, and model files."""
