"""Generator families and human kinds: the rows a model card reports, across sources' many spellings.

Sources name generators in many ways ("gpt-image-2", "GPT-4o image generation (ChatGPT)",
"AlbedoBase XL (SDXL fine-tune)"); a user asks "does it catch Nano Banana?", so reports group them.
The first matching rule wins; human images are grouped by kind (photo / art).
"""
from __future__ import annotations

import re

from .datasets import Sample

FAMILY_RULES = (
    ("Kakao Brain (minDALL-E, Karlo)", r"mindall-?e|karlo"),
    ("OpenAI (gpt-image, GPT-4o, DALL-E)", r"gpt-image|gpt-4o|chatgpt|dall-?e|openai"),
    ("Google (Nano Banana, Gemini, Imagen)", r"nano.?banana|gemini|imagen\b"),  # not ImageNet
    ("Seedream", r"seedream"),
    ("Midjourney", r"midjourney"),
    ("FLUX", r"flux"),
    ("tiny autoencoder round trip (aligned pairs)", r"tiny autoencoder"),
    ("Real-ESRGAN upscale (aligned pairs)", r"esrgan"),
    ("SD 3.x", r"\bsd ?3|stable diffusion 3"),
    ("SDXL and fine-tunes", r"sdxl|\bxl\b|pony|juggernaut|albedobase|segmind|playground"),
    ("SD 1.x / 2.x and fine-tunes", r"\bsd ?[12]|stable diffusion (v?1|v?2)|sd 1\.5|dreambooth|lora|a1111|invokeai"),
    ("Ideogram", r"ideogram"),
    ("class-conditional diffusion (DiT, SiT, U-ViT, MDT)", r"\bdit\b|\bsit\b|u-?vit|\bmdt|class-conditional"),
    ("StyleGAN (v1, v2: faces, scenes, art)", r"stylegan"),
    ("other GANs (BigGAN, GigaGAN, MSG-GAN, ProGAN, VQGAN)", r"gan\b|biggan|gigagan|msg-gan|progan|vqgan"),
)


def family(sample: Sample) -> str:
    if sample.label_name == "human":
        return f"human {sample.kind or 'image'}"
    name = sample.source.lower()
    for label, pattern in FAMILY_RULES:
        if re.search(pattern, name):
            return label
    return "other generators (Kandinsky, Hunyuan, Kolors, PixArt, ...)"
