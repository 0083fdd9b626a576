# zproxy: slim, non-root image. Build: docker build -t zproxy .  Run: docker run -p 8080:8080 zproxy
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY zproxy ./zproxy
# only the dependencies stay installed: the app runs from /app, with web/ beside zproxy/
RUN pip install --no-cache-dir --prefix=/install . && rm -rf /install/lib/python3.12/site-packages/zproxy*

FROM python:3.12-slim
# HOST: every interface inside the container (the port is published by the operator);
# SHUTDOWN_GRACE_SECONDS stays under the 10 s `docker stop` waits before SIGKILL.
# WORKERS=N (or auto: the container's CPU limit, not the host's CPUs) runs N server processes
# under one parent, PID 1 here: it passes docker stop's SIGTERM to every worker and waits for
# their drain, so the grace above holds for all of them. Add REDIS_URL to share their state.
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOST=0.0.0.0 PORT=8080 LOG_JSON=true \
    SHUTDOWN_GRACE_SECONDS=8
RUN groupadd --gid 10001 zproxy && useradd --create-home --uid 10001 --gid 10001 zproxy
COPY --from=build /install /usr/local
WORKDIR /app
COPY run.py ./
COPY zproxy ./zproxy
COPY web ./web
# the store (tokens, client keys, pool events): DB_PATH defaults to /app/data/zproxy.db
RUN mkdir -p /app/data && chown 10001:10001 /app/data
VOLUME ["/app/data"]
# numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]
CMD ["python", "run.py"]
