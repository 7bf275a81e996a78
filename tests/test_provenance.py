"""Tests for the provenance package: every image is made here, in the test."""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import struct
import time
import zlib

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from provenance import Provenance, read_provenance
from provenance import c2pa_check, signatures

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
A1111 = ("a cat in a hat, masterpiece\nNegative prompt: blurry\n"
         "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sdxl_base")


# ----------------------------------------------------------------- helpers

def _png_bytes(size=(32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg_bytes(exif=None) -> bytes:
    buf = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    Image.new("RGB", (32, 24), (200, 120, 40)).save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _png_with_chunks(*chunks: bytes) -> bytes:
    """A PNG with extra chunks inserted right after IHDR."""
    png = _png_bytes()
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + b"".join(chunks) + png[ihdr_end:]


def _itxt(key: str, text: str, compressed: bool = False) -> bytes:
    body = text.encode("utf-8")
    if compressed:
        body = zlib.compress(body)
    return _chunk(b"iTXt", key.encode("latin-1") + b"\x00" + bytes([int(compressed), 0])
                  + b"\x00\x00" + body)


def _xmp_packet(inner: str) -> str:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'{inner}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def _dst_xmp(source_type: str, creator_tool: str | None = None) -> str:
    tool = f' xmp:CreatorTool="{creator_tool}"' if creator_tool else ""
    return _xmp_packet(
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/"{tool}>'
        f'<Iptc4xmpExt:DigitalSourceType>{IPTC}{source_type}</Iptc4xmpExt:DigitalSourceType>'
        '</rdf:Description>')


def _jpeg_with_segments(*segments: tuple[int, bytes], exif=None) -> bytes:
    jpeg = _jpeg_bytes(exif)
    extra = b"".join(bytes([0xFF, marker]) + struct.pack(">H", len(d) + 2) + d for marker, d in segments)
    return jpeg[:2] + extra + jpeg[2:]


def _xmp_segment(xmp: str) -> tuple[int, bytes]:
    return 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode("utf-8")


def _exif(**tags) -> Image.Exif:
    exif = Image.Exif()
    ids = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131}
    for name, value in tags.items():
        if name == "UserComment":
            exif.get_ifd(0x8769)[0x9286] = value
        else:
            exif[ids[name]] = value
    return exif


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _png_text(tmp_path, **text) -> Provenance:
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    path = tmp_path / "text.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(path, "PNG", pnginfo=info)
    return read_provenance(path)


# ------------------------------------------------------ generator text chunks

def test_a1111_parameters_is_ai_declared_unsigned(tmp_path):
    p = _png_text(tmp_path, parameters=A1111)
    assert p.status == "ai-declared"
    assert p.signed is False
    assert p.detail == ("PNG text: Stable Diffusion web UI parameters "
                        "(unsigned, easy to forge or strip)")
    assert p.hints["Generator"] == "Stable Diffusion web UI"


def test_comfyui_prompt_and_workflow(tmp_path):
    prompt = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}},
                         "4": {"class_type": "CheckpointLoaderSimple", "inputs": {}}})
    workflow = json.dumps({"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}]})
    p = _png_text(tmp_path, prompt=prompt, workflow=workflow)
    assert (p.status, p.signed) == ("ai-declared", False)
    assert p.detail.startswith("PNG text: ComfyUI workflow")
    assert "unsigned" in p.detail
    assert p.hints["Generator"] == "ComfyUI"


def test_novelai_software_and_comment(tmp_path):
    comment = json.dumps({"prompt": "1girl", "steps": 28, "sampler": "k_euler", "uc": "lowres"})
    p = _png_text(tmp_path, Software="NovelAI", Source="NovelAI Diffusion V3 4BDE2A90",
                  Comment=comment)
    assert p.status == "ai-declared"
    assert p.hints["Generator"] == "NovelAI"
    assert "NovelAI" in p.detail and "unsigned" in p.detail


def test_novelai_comment_json_alone(tmp_path):
    comment = json.dumps({"prompt": "a fox", "steps": 28, "sampler": "k_euler", "uc": "lowres"})
    p = _png_text(tmp_path, Comment=comment)
    assert p.status == "ai-declared"
    assert p.hints["Generator"] == "NovelAI"


def test_invokeai_metadata(tmp_path):
    p = _png_text(tmp_path, invokeai_metadata=json.dumps({"positive_prompt": "x", "seed": 1}))
    assert p.status == "ai-declared"
    assert p.hints["Generator"] == "InvokeAI"


def test_midjourney_description(tmp_path):
    p = _png_text(tmp_path, Description="a castle at dawn --v 6 Job ID: 1c2d3e4f-0000-1111-2222")
    assert p.status == "ai-declared"
    assert p.hints["Generator"] == "Midjourney"


@pytest.mark.parametrize("kind", ["zTXt", "iTXt", "iTXt-compressed"])
def test_compressed_and_international_text_chunks(tmp_path, kind):
    if kind == "zTXt":
        chunk = _chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(A1111.encode()))
    else:
        chunk = _itxt("parameters", A1111, compressed=kind.endswith("compressed"))
    p = read_provenance(_write(tmp_path, "z.png", _png_with_chunks(chunk)))
    assert p.status == "ai-declared"
    assert p.hints["Generator"] == "Stable Diffusion web UI"


def test_harmless_text_chunks_are_none(tmp_path):
    p = _png_text(tmp_path, Title="Holiday", Author="Ann", Comment="taken at the beach",
                  parameters="brightness=3")
    assert p.status == "none"
    assert p.signed is False
    assert p.detail == "No provenance metadata"
    assert p.hints == {}


def test_plain_png_is_none(tmp_path):
    p = read_provenance(_write(tmp_path, "plain.png", _png_bytes()))
    assert (p.status, p.signed, p.hints) == ("none", False, {})


def test_editor_software_is_edited(tmp_path):
    p = _png_text(tmp_path, Software="GIMP 2.10.36")
    assert p.status == "edited"
    assert p.signed is False
    assert "GIMP" in p.detail and "unsigned" in p.detail
    assert p.hints["Software"] == "GIMP 2.10.36"


def test_ai_metadata_beats_editor(tmp_path):
    p = _png_text(tmp_path, parameters=A1111, Software="Adobe Photoshop 25.0")
    assert p.status == "ai-declared"
    assert p.hints["Software"] == "Adobe Photoshop 25.0"


# --------------------------------------------------------------- XMP / EXIF

def test_jpeg_xmp_trained_algorithmic_media(tmp_path):
    data = _jpeg_with_segments(_xmp_segment(_dst_xmp("trainedAlgorithmicMedia")))
    p = read_provenance(_write(tmp_path, "x.jpg", data))
    assert p.status == "ai-declared"
    assert p.signed is False
    assert p.detail == ("XMP: DigitalSourceType trainedAlgorithmicMedia "
                        "(AI-generated; unsigned, easy to forge or strip)")
    assert p.hints["Digital source type (XMP)"] == "trainedAlgorithmicMedia"


def test_png_xmp_composite_is_ai_edited(tmp_path):
    chunk = _itxt("XML:com.adobe.xmp", _dst_xmp("compositeWithTrainedAlgorithmicMedia"))
    p = read_provenance(_write(tmp_path, "x.png", _png_with_chunks(chunk)))
    assert p.status == "ai-declared"
    assert "AI-edited" in p.detail and "compositeWithTrainedAlgorithmicMedia" in p.detail


def test_xmp_attribute_form_and_creator_tool(tmp_path):
    xmp = _xmp_packet(
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Midjourney"'
        f' Iptc4xmpExt:DigitalSourceType="{IPTC}algorithmicMedia"/>')
    p = read_provenance(_write(tmp_path, "a.jpg", _jpeg_with_segments(_xmp_segment(xmp))))
    assert p.status == "ai-declared"
    assert "algorithmicMedia" in p.detail
    assert p.hints["Generator"] == "Midjourney"
    assert p.hints["Software"] == "Midjourney"


def test_unsigned_digital_capture_is_not_camera_signed(tmp_path):
    data = _jpeg_with_segments(_xmp_segment(_dst_xmp("digitalCapture")))
    p = read_provenance(_write(tmp_path, "cap.jpg", data))
    assert p.status == "none"
    assert p.signed is False
    assert "digitalCapture" in p.detail and "unsigned" in p.detail


def test_camera_exif_is_only_a_hint(tmp_path):
    data = _jpeg_bytes(_exif(Make="Canon", Model="Canon EOS 5D"))
    p = read_provenance(_write(tmp_path, "cam.jpg", data))
    assert p.status == "none"
    assert p.signed is False
    assert p.hints == {"Camera": "Canon EOS 5D"}
    assert "Canon EOS 5D" in p.detail


def test_exif_photoshop_is_edited(tmp_path):
    data = _jpeg_bytes(_exif(Make="NIKON CORPORATION", Model="NIKON D750",
                             Software="Adobe Photoshop 25.0 (Windows)"))
    p = read_provenance(_write(tmp_path, "ps.jpg", data))
    assert p.status == "edited"
    assert p.signed is False
    assert p.detail.startswith("EXIF Software: Adobe Photoshop 25.0 (Windows) (Adobe Photoshop; edited")
    assert p.hints["Software"] == "Adobe Photoshop 25.0 (Windows)"
    assert p.hints["Camera"] == "NIKON D750"


def test_exif_generator_software_is_ai(tmp_path):
    p = read_provenance(_write(tmp_path, "ff.jpg", _jpeg_bytes(_exif(Software="Adobe Firefly"))))
    assert p.status == "ai-declared"
    assert p.hints["Generator"] == "Adobe Firefly"
    assert "unsigned" in p.detail


def test_exif_user_comment_with_a1111_parameters(tmp_path):
    comment = b"UNICODE\x00" + A1111.encode("utf-16-be")
    p = read_provenance(_write(tmp_path, "sd.jpg", _jpeg_bytes(_exif(UserComment=comment))))
    assert p.status == "ai-declared"
    assert p.detail.startswith("EXIF UserComment: Stable Diffusion web UI parameters")


def test_webp_xmp(tmp_path):
    path = tmp_path / "w.webp"
    Image.new("RGB", (16, 16)).save(path, "WEBP", xmp=_dst_xmp("trainedAlgorithmicMedia").encode())
    p = read_provenance(path)
    assert p.status == "ai-declared"
    assert "trainedAlgorithmicMedia" in p.detail


# ----------------------------------------------------------------- bad input

def _timed(path) -> Provenance:
    start = time.monotonic()
    p = read_provenance(path)
    assert time.monotonic() - start < 5
    return p


def test_invalid_xmp_is_unreadable(tmp_path):
    bad = _xmp_packet("<rdf:Description><unclosed></rdf:Description>")
    p = _timed(_write(tmp_path, "bad.jpg", _jpeg_with_segments(_xmp_segment(bad))))
    assert p.status == "unreadable"
    assert "XMP is invalid XML" in p.detail


def test_xmp_with_entities_is_refused(tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol2;</x:xmpmeta>')
    chunk = _itxt("XML:com.adobe.xmp", bomb)
    p = _timed(_write(tmp_path, "bomb.png", _png_with_chunks(chunk)))
    assert p.status == "unreadable"
    assert "DTD" in p.detail


def test_huge_text_chunk_is_unreadable_not_read(tmp_path):
    chunk = _chunk(b"tEXt", b"parameters\x00" + b"x" * (3 << 20))
    p = _timed(_write(tmp_path, "huge.png", _png_with_chunks(chunk)))
    assert p.status == "unreadable"
    assert "too large" in p.detail


def test_decompression_bomb_is_unreadable(tmp_path):
    chunk = _chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"\x00" * (8 << 20), 9))
    p = _timed(_write(tmp_path, "zbomb.png", _png_with_chunks(chunk)))
    assert p.status == "unreadable"
    assert "decompressed text too large" in p.detail


def test_huge_text_does_not_hide_ai_evidence(tmp_path):
    big = _chunk(b"tEXt", b"Comment\x00" + b"x" * (2 << 20))
    small = _chunk(b"tEXt", b"parameters\x00" + A1111.encode())
    p = _timed(_write(tmp_path, "both.png", _png_with_chunks(small, big)))
    assert p.status == "ai-declared"
    assert "too large" in p.detail


@pytest.mark.parametrize("name, data, reason", [
    ("empty.png", b"", "Empty file"),
    ("junk.png", b"this is not an image at all" * 10, "not a recognised image format"),
    ("trunc.png", None, "PNG structure damaged"),
    ("trunc.jpg", b"\xff\xd8\xff\xe1\x40\x00Exif", "JPEG structure damaged"),
])
def test_damaged_files_are_unreadable(tmp_path, name, data, reason):
    if data is None:
        data = _png_bytes()[:40]
    p = _timed(_write(tmp_path, name, data))
    assert p.status == "unreadable"
    assert p.signed is False
    assert reason in p.detail


def test_missing_file_and_directory(tmp_path):
    p = read_provenance(tmp_path / "nope.png")
    assert p.status == "unreadable" and "cannot be opened" in p.detail
    p = read_provenance(tmp_path)
    assert p.status == "unreadable" and p.detail == "Not a regular file"


def test_provenance_is_frozen_and_hashable(tmp_path):
    p = read_provenance(_write(tmp_path, "plain.png", _png_bytes()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.status = "ai-declared"
    assert hash(p) == hash(Provenance("none", p.detail, False, {}))


# --------------------------------------------------------------- signatures

@pytest.mark.parametrize("text, name, kind", [
    ("Adobe Photoshop Lightroom Classic 13.0", "Adobe Lightroom", "editor"),
    ("Adobe Photoshop 25.0 (Macintosh)", "Adobe Photoshop", "editor"),
    ("GIMP 2.10", "GIMP", "editor"),
    ("DALL·E 3", "OpenAI (DALL-E / ChatGPT)", "ai"),
    ("ChatGPT", "OpenAI (DALL-E / ChatGPT)", "ai"),
    ("Adobe Firefly Image 3", "Adobe Firefly", "ai"),
    ("Microsoft Designer", "Microsoft Designer / Bing Image Creator", "ai"),
])
def test_software_signatures(text, name, kind):
    sig = signatures.match_software(text)
    assert (sig.name, sig.kind) == (name, kind)


@pytest.mark.parametrize("text", ["Ver.1.00", "Canon EOS 5D", "Paint Shop", "ImageMagick 7", "", None])
def test_unknown_software_does_not_match(text):
    assert signatures.match_software(text) is None


def test_signature_table_is_documented():
    doc = signatures.__doc__
    for sig in signatures.SOFTWARE_SIGNATURES:
        first = sig.name.split(" (")[0].split(" / ")[0]
        assert first in doc, sig.name


# --------------------------------------------------------------------- C2PA

@pytest.fixture(scope="module")
def chain():
    """A throwaway root CA and end-entity signing certificate (ES256)."""
    pytest.importorskip("c2pa")
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Throwaway Test Org")])

    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, encipher_only=False, decipher_only=False)

    def base(subject, issuer, key):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=7))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (base(name("Throwaway Root CA"), name("Throwaway Root CA"), ca_key)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True,
                                       **usage), True)
          .sign(ca_key, hashes.SHA256()))
    ee_key = ec.generate_private_key(ec.SECP256R1())
    ee = (base(name("Throwaway Signer"), ca.subject, ee_key)
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                       **usage), True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                         False)
          .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return {
        "certs": ee.public_bytes(pem) + ca.public_bytes(pem),
        "key": ee_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()),
        "root": ca.public_bytes(pem).decode(),
    }


def _sign(chain, source: bytes, mime: str, generator: str, actions: list[dict]) -> bytes:
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": "test image",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                                  "builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain["certs"], chain["key"], None))
    out = io.BytesIO()
    with c2pa.Builder(manifest, context=ctx) as builder:
        builder.sign(signer, mime, io.BytesIO(source), out)
    return out.getvalue()


def _created(source_type: str, agent: str | None = None) -> list[dict]:
    action = {"action": "c2pa.created", "digitalSourceType": IPTC + source_type}
    if agent:
        action["softwareAgent"] = {"name": agent}
    return [action]


@pytest.fixture(scope="module")
def signed(chain):
    png, jpeg = _png_bytes((48, 32)), _jpeg_bytes()
    return {
        "ai_png": _sign(chain, png, "image/png", "Adobe Firefly", _created("trainedAlgorithmicMedia")),
        "ai_jpeg": _sign(chain, jpeg, "image/jpeg", "Image Pipeline",
                         _created("trainedAlgorithmicMedia", agent="DALL-E 3")),
        "camera_jpeg": _sign(chain, jpeg, "image/jpeg", "Throwaway Camera Firmware",
                             _created("digitalCapture")),
        "edited_png": _sign(chain, png, "image/png", "Some Editor",
                            _created("digitalCreation") + [{"action": "c2pa.edited"}]),
    }


def _tamper(data: bytes, fmt: str) -> bytes:
    out = bytearray(data)
    if fmt == "png":
        out[data.index(b"IDAT") + 12] ^= 0xFF    # inside the compressed pixel data
    else:
        out[-8] ^= 0x5A                           # inside the entropy-coded scan
    return bytes(out)


def test_c2pa_ai_generated_untrusted_signer(tmp_path, signed):
    p = read_provenance(_write(tmp_path, "ai.png", signed["ai_png"]))
    assert p.status == "ai-declared"
    assert p.signed is True
    assert p.detail == ("C2PA: Adobe Firefly, signature intact, signer not on trust list; "
                        "AI-generated (trainedAlgorithmicMedia)")
    assert p.hints["C2PA signature"] == "untrusted signer"
    assert p.hints["C2PA signer"] == "Throwaway Test Org"
    assert p.hints["C2PA claim generator"] == "Adobe Firefly 1.0"
    assert p.hints["Generator"] == "Adobe Firefly"


def test_c2pa_trusted_root_reads_valid(tmp_path, signed, chain):
    p = read_provenance(_write(tmp_path, "ai.png", signed["ai_png"]), trust_anchors=chain["root"])
    assert p.status == "ai-declared"
    assert p.signed is True
    assert p.detail.startswith("C2PA: Adobe Firefly, signature valid; AI-generated")
    assert p.hints["C2PA signature"] == "valid"


def test_c2pa_software_agent_names_generator_in_jpeg(tmp_path, signed):
    p = read_provenance(_write(tmp_path, "ai.jpg", signed["ai_jpeg"]))
    assert (p.status, p.signed) == ("ai-declared", True)
    assert p.detail.startswith("C2PA: OpenAI (DALL-E / ChatGPT), signature intact")
    assert p.hints["C2PA claim generator"] == "Image Pipeline 1.0"


def test_c2pa_camera_capture_is_camera_signed(tmp_path, signed):
    p = read_provenance(_write(tmp_path, "cam.jpg", signed["camera_jpeg"]))
    assert p.status == "camera-signed"
    assert p.signed is True
    assert p.detail == ("C2PA: Throwaway Camera Firmware, signature intact, signer not on trust list; "
                        "camera capture (digitalCapture)")


def test_c2pa_edit_actions_are_edited(tmp_path, signed):
    p = read_provenance(_write(tmp_path, "ed.png", signed["edited_png"]))
    assert (p.status, p.signed) == ("edited", True)
    assert p.detail.endswith("; edited")


def test_c2pa_tampered_ai_image_reads_invalid(tmp_path, signed):
    p = read_provenance(_write(tmp_path, "t.png", _tamper(signed["ai_png"], "png")))
    assert p.signed is False
    assert p.hints["C2PA signature"] == "invalid"
    assert "signature INVALID" in p.detail
    assert p.status == "ai-declared"          # the claim is still reported, as unverified
    assert p.detail.endswith("unverified")


def test_c2pa_tampered_camera_image_is_not_camera_signed(tmp_path, signed):
    p = read_provenance(_write(tmp_path, "t.jpg", _tamper(signed["camera_jpeg"], "jpeg")))
    assert p.signed is False
    assert p.hints["C2PA signature"] == "invalid"
    assert p.status == "edited"
    assert "signature INVALID" in p.detail and "content changed after signing" in p.detail


def test_c2pa_malformed_manifest_is_unreadable(tmp_path, signed):
    data = bytearray(signed["ai_png"])
    start = data.index(b"caBX") + 40
    for i in range(start, start + 120):
        data[i] ^= 0xA5
    p = _timed(_write(tmp_path, "bad.png", bytes(data)))
    assert p.status == "unreadable"
    assert p.signed is False
    assert "C2PA" in p.detail and "malformed" in p.detail


def test_c2pa_check_is_time_bounded(tmp_path, signed, monkeypatch):
    monkeypatch.setattr(c2pa_check, "_read_blocking", lambda *a: time.sleep(3))
    monkeypatch.setattr(c2pa_check, "TIMEOUT_S", 0.2)
    start = time.monotonic()
    p = read_provenance(_write(tmp_path, "slow.png", signed["ai_png"]))
    assert time.monotonic() - start < 2
    assert p.status == "unreadable"
    assert "timed out" in p.detail


def test_c2pa_remote_manifest_is_not_fetched(tmp_path, chain):
    import c2pa

    manifest = {"claim_generator_info": [{"name": "Remote Tool"}],
                "assertions": [{"label": "c2pa.actions",
                                "data": {"actions": _created("trainedAlgorithmicMedia")}}]}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain["certs"], chain["key"], None))
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.set_no_embed()
        builder.set_remote_url("http://127.0.0.1:9/never-fetched.c2pa")  # closed loopback port
        builder.sign(signer, "image/png", io.BytesIO(_png_bytes()), out)
    p = _timed(_write(tmp_path, "remote.png", out.getvalue()))
    assert p.status == "none"
    assert p.signed is False
    assert "remote C2PA manifest" in p.detail and "not fetched" in p.detail
    assert p.hints["C2PA manifest"].endswith("http://127.0.0.1:9/never-fetched.c2pa")


def test_c2pa_trust_anchors_accept_bytes(tmp_path, signed, chain):
    p = read_provenance(_write(tmp_path, "cam.jpg", signed["camera_jpeg"]),
                        trust_anchors=chain["root"].encode())
    assert (p.status, p.signed) == ("camera-signed", True)
    assert p.hints["C2PA signature"] == "valid"


def test_package_needs_no_qt_or_torch(tmp_path):
    import subprocess
    import sys

    path = _write(tmp_path, "p.png", _png_bytes())
    code = ("import sys; from provenance import read_provenance; "
            f"p = read_provenance({str(path)!r}); assert p.status == 'none', p; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'PySide6', 'PyQt5', 'PyQt6', 'PySide2')]; assert not heavy, heavy")
    repo = __import__("pathlib").Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=repo)


def test_a_library_planted_in_the_working_folder_is_not_loaded(tmp_path):
    """c2pa-python searches the current folder first; the app pins the packaged library instead."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "libc2pa_c.so").write_bytes(b"not a library")
    code = ("from provenance.c2pa_check import available; import c2pa.lib, os; "
            "print(available(), os.environ['C2PA_LIBRARY_NAME'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert done.returncode == 0, done.stderr
    loaded, pinned = done.stdout.split()
    assert loaded == "True" and pinned.endswith("libc2pa_c.so") and not pinned.startswith(str(tmp_path))
