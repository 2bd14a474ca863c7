"""`python -m bot run`: one workflow run against the (fake) Gemini API, from the command line."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.config import Settings
from bot.credentials import GeminiAuth
from bot.workflows.run_cli import run_workflow
from tests.e2e.helpers import b64
from tests.fakes.fake_gemini import (
    FakeGemini,
    blocked_prompt,
    error_reply,
    finish_reply,
    image_reply,
)
from tests.unit.workflow_samples import REPO, SETTINGS, imagen_sample, write

SECRET_VARS = ("DISCORD_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI")


@pytest.fixture
def fake(gemini_fake: FakeGemini) -> FakeGemini:
    gemini_fake.reset()
    return gemini_fake


def settings_for(fake: FakeGemini) -> Settings:
    gemini = SETTINGS.gemini.model_copy(
        update={"base_url": fake.base_url, "api_version": "v1beta", "retry_attempts": 1}
    )
    return SETTINGS.model_copy(update={"gemini": gemini})


def photo(folder: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(buffer, "PNG")
    path = folder / "photo.png"
    path.write_bytes(buffer.getvalue())
    return path


async def test_a_run_writes_the_image_with_its_prompt_and_model(
    fake: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"

    code = await run_workflow(
        settings_for(fake),
        GeminiAuth(api_key=fake.api_key),
        workflow="imagine",
        sets=["prompt=a red fox", "aspectRatio=16:9"],  # a field name works like the option
        image_paths=[photo(tmp_path)],
        out=out,
    )

    printed = capsys.readouterr()
    assert code == 0, printed.err
    sidecar = json.loads((tmp_path / "out.png.json").read_text())
    assert (sidecar["prompt"], sidecar["model"], sidecar["workflow"]) == (
        "a red fox",
        "gemini-3.1-flash-image",
        "imagine",
    )
    (request,) = fake.requests
    answered = json.loads(request.answer)["candidates"][0]["content"]["parts"][-1]
    assert out.read_bytes() == b64(answered["inlineData"]["data"])  # exactly as made
    assert request.image_config == {"aspectRatio": "16:9", "imageSize": "1K"}
    assert request.texts() == ["a red fox"]
    assert [mime for mime, _ in request.images()] == ["image/png"]
    assert "Here is your image." in printed.out
    assert "/imagine: 1 image from gemini-3.1-flash-image in" in printed.out
    assert fake.violations == []


async def test_a_blocked_prompt_exits_1_with_the_explanation(
    fake: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.enqueue(blocked_prompt("PROHIBITED_CONTENT", message="Blocked by policy"))
    out = tmp_path / "out.png"

    code = await run_workflow(
        settings_for(fake),
        GeminiAuth(api_key=fake.api_key),
        workflow="logo",
        sets=["company_area=coffee", "companyName=Bean There"],
        out=out,
    )

    err = capsys.readouterr().err
    assert code == 1
    assert "blocked: Your prompt asks for content Google's policies prohibit." in err
    assert "Reason given: PROHIBITED_CONTENT" in err
    assert "Message: Blocked by policy" in err
    assert "What you can do: This request cannot be generated." in err
    assert not out.exists()
    assert (
        fake.requests[0]
        .texts()[0]
        .startswith(
            "A minimalist logo for a coffee company on a solid color background. Include the text "
            '"Bean There".'
        )
    )


async def test_a_failed_call_exits_1(
    fake: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.enqueue(error_reply(503))

    code = await run_workflow(
        settings_for(fake),
        GeminiAuth(api_key=fake.api_key),
        workflow="imagine",
        sets=["prompt=a fox"],
        out=tmp_path / "out.png",
    )

    assert code == 1
    assert "error: Gemini had an internal problem (HTTP 503)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["colour=red"], 'use FIELD=VALUE with one of "prompt", "aspect_ratio", "size" or "count"'),
        (["prompt"], "use FIELD=VALUE"),
        (["image=x.png"], "image is an image; use --image PATH"),
        (["prompt=a fox", "aspect_ratio=2:1"], "Aspect ratio must be one of"),
        ([], "Prompt is required."),
    ],
)
async def test_wrong_arguments_exit_2_before_any_request(
    fake: FakeGemini,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sets: list[str],
    expected: str,
) -> None:
    code = await run_workflow(
        settings_for(fake),
        GeminiAuth(api_key=fake.api_key),
        workflow="imagine",
        sets=sets,
        out=tmp_path / "out.png",
    )

    assert code == 2
    assert expected in capsys.readouterr().err
    assert fake.requests == []


async def test_an_imagen_workflow_file_runs_on_its_replacement(
    fake: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = image_reply(mime="image/png")
    fake.enqueue(png, finish_reply("IMAGE_SAFETY"), png, png)
    path = write(tmp_path, "imagen.json", imagen_sample())
    out = tmp_path / "out.png"

    code = await run_workflow(
        settings_for(fake),
        GeminiAuth(api_key=fake.api_key),
        workflow=str(path),
        sets=["user_prompt=a fox", "count=2"],
        out=out,
    )

    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "shut down by Google" in printed.err
    assert json.loads((tmp_path / "out.png.json").read_text())["workflow"] == "sample"
    assert "3 images from gemini-3.1-flash-image" in printed.out
    assert "saved the first to" in printed.out
    assert "1 withheld or failed" in printed.out
    assert len(fake.requests) == 4
    assert fake.requests[0].texts() == ["Draw a fox x2. Moody light.\n\nAvoid: text"]


async def test_a_jpeg_answer_is_saved_as_jpeg_whatever_the_name_said(
    fake: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.enqueue(image_reply(mime="image/jpeg"))
    code = await run_workflow(
        settings_for(fake),
        GeminiAuth(api_key=fake.api_key),
        workflow="imagine",
        sets=["prompt=a fox"],
        out=tmp_path / "fox.png",
    )

    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert (tmp_path / "fox.jpg").read_bytes().startswith(b"\xff\xd8")
    assert not (tmp_path / "fox.png").exists()
    assert f"saved to {tmp_path / 'fox.jpg'}" in printed.out


async def test_python_m_bot_run_end_to_end(fake: FakeGemini, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        f'[gemini]\nbase_url = "{fake.base_url}"\napi_version = "v1beta"\nretry_attempts = 1\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "imagine",
        "--set",
        "prompt=a lighthouse",
        "--out",
        "lighthouse.png",
        cwd=tmp_path,
        env={**env, "GEMINI_API_KEY": fake.api_key, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0, err.decode()
    assert "/imagine: 1 image from gemini-3.1-flash-image" in out.decode()
    assert (tmp_path / "lighthouse.png").read_bytes().startswith(b"\x89PNG")
    sidecar = json.loads((tmp_path / "lighthouse.png.json").read_text())
    assert sidecar["prompt"] == "a lighthouse"
    assert fake.api_key not in out.decode() + err.decode()


async def test_a_video_workflow_runs_on_vertex_and_is_refused_with_a_key(
    fake: FakeGemini, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.e2e.test_vertex_media import VIDEO_WORKFLOW

    workflow = write(tmp_path, "animate.json", VIDEO_WORKFLOW)
    settings = settings_for(fake)
    video = settings.video.model_copy(update={"poll_interval_s": 0.01})
    vertex_settings = settings.model_copy(
        update={"video": video, "gemini": settings.gemini.model_copy(update={"api_version": ""})}
    )
    args: dict[str, Any] = {
        "workflow": str(workflow),
        "sets": ["motion=the tide comes in"],
        "image_paths": [photo(tmp_path)],
    }

    refused = await run_workflow(
        settings, GeminiAuth(api_key=fake.api_key), out=tmp_path / "no.mp4", **args
    )
    assert refused == 2
    assert "needs Vertex AI" in capsys.readouterr().err
    assert fake.requests == []

    out = tmp_path / "clip.mp4"
    made = await run_workflow(
        vertex_settings, GeminiAuth(api_key=fake.api_key, vertexai=True), out=out, **args
    )
    assert made == 0, capsys.readouterr().err
    assert out.read_bytes()[4:8] == b"ftyp"
    assert json.loads((tmp_path / "clip.mp4.json").read_text())["mime_type"] == "video/mp4"
