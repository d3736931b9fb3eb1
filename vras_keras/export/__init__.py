"""Export to SavedModel (TF Serving layout) and TFLite (built-in ops only), with parity checks."""
