"""Image LoRA training: a folder of pictures with captions → kohya-format LoRA files, one per epoch.

``dataset`` reads the folder (captions, aspect-ratio buckets), ``config`` holds the settings (TOML),
``trainer`` runs the diffusers + peft + accelerate loop and ``kohya_export`` writes the files.
"""
