# The bot in a container: `docker build -t imagine-bot .`, then see compose.yaml or the
# README ("Running in a container"). The install steps are the ones .ci/run proves on every
# change: pip installs uv, and uv installs exactly what uv.lock pins.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1

WORKDIR /app
RUN python3 -m pip install --quiet uv
# Dependencies first, so editing the code does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev
COPY . .

# No secrets in the image: DISCORD_TOKEN and GEMINI_API_KEY come from the environment.
RUN useradd --system --uid 10001 --home-dir /data bot \
    && mkdir -p /data && chown bot /data
USER bot
VOLUME ["/data"]
EXPOSE 8080
ENV PATH="/app/.venv/bin:$PATH"

# SIGTERM (docker stop) lets images in progress finish for [jobs] shutdown_grace_s (30 s):
# give `docker stop` more time than that (compose.yaml sets stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "health", "--config", "deploy/container.toml"]
CMD ["python", "-m", "bot", "--config", "deploy/container.toml"]
