"""Causal language models with PEFT LoRA adapters: recognise, mix, generate, fine-tune, merge.

Modules: ``models`` (folder recognition and adapter fit), ``engine`` (TextEngine: one base model,
adapters loaded once, weighted mixes, streamed generation), ``train`` (LoRA fine-tuning),
``merge`` (merge a mix into a standalone model), ``demo`` (a tiny offline GPT-2).
"""
