"""Qt layer: thin widgets and workers over lorastudio.core."""
