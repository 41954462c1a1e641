# scimgw: SCIM 2.0 identity provisioning gateway.
#
#   docker build -t scimgw .
#   docker run -p 8080:8080 -v scimgw-data:/data scimgw      # prints "token: ..." once
#
# SQLite under /data by default; for PostgreSQL set
# SCIMGW_DATABASE_URL=postgresql://user:password@host/db. Mount a configuration file and
# point SCIMGW_CONFIG at it to declare tenants, limits and JWT issuers.

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/scimgw
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY provisioning ./provisioning
COPY scimgw ./scimgw
RUN /opt/scimgw/bin/pip install ".[postgres]"

FROM python:3.12-slim
ENV PATH=/opt/scimgw/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SCIMGW_DATABASE_URL=sqlite:////data/scimgw.db \
    SCIMGW_HOST=0.0.0.0
RUN groupadd --system --gid 10001 scimgw \
    && useradd --system --uid 10001 --gid scimgw --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin scimgw \
    && mkdir /data \
    && chown scimgw:scimgw /data
COPY --from=build /opt/scimgw /opt/scimgw
USER scimgw
WORKDIR /data
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SCIMGW_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["scimgw"]
CMD ["serve", "--init"]
