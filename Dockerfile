# 增信通 — two targets from one file:
#   product  every Airflow component; the zxt package only (no stand-ins, generators or benchmarks)
#   sandbox  product + zxt_sandbox: the loopback stand-ins (SMS gateway, bank SFTP) and `zxt demo`
# The project lives in /opt/zxt, so zxt.core.settings.PROJECT_ROOT (three levels above
# plugins/zxt/core) is /opt/zxt and the DAGs find dbt_project/ and expectations/ there.
FROM python:3.11-slim AS product

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    GX_ANALYTICS_ENABLED=false \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

# gpg encrypts bank files; openssh-client gives ssh-keygen (the Makefile's system-deps, same packages).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gnupg openssh-client \
    && rm -rf /var/lib/apt/lists/*

# Airflow's usual uid; named volumes mounted on the folders created below inherit this ownership.
RUN useradd --uid 50000 --user-group --home-dir /home/zxt --create-home --shell /bin/bash zxt

WORKDIR /opt/zxt

# Dependencies first (cached until the lock changes), with the uv version pinned in the lock.
COPY requirements.lock pyproject.toml ./
RUN pip install "$(grep '^uv==' requirements.lock)" \
    && uv pip install --system -r requirements.lock

COPY --chown=zxt:zxt plugins/.airflowignore ./plugins/
COPY --chown=zxt:zxt plugins/zxt ./plugins/zxt
COPY --chown=zxt:zxt dags ./dags
COPY --chown=zxt:zxt dbt_project ./dbt_project
COPY --chown=zxt:zxt expectations ./expectations
RUN uv pip install --system --no-deps -e . \
    && mkdir -p /opt/zxt/.zxt/sftp /opt/zxt/.zxt/airflow /data/landing \
    && chown -R zxt:zxt /opt/zxt /data

USER zxt

# The nightly DAG renders its dbt task group from target/manifest.json (cosmos LoadMode.DBT_MANIFEST), and
# .dockerignore keeps the developer's target/ out: parse here. `dbt parse` reads profiles.yml but never
# connects, so no warehouse is needed at build time.
RUN zxt dbt parse && test -s dbt_project/target/manifest.json

# From here on the image runs as production: every secret must come from the environment
# (zxt.core.settings refuses to start without them; docker-compose.yml passes them from .env).
ENV ZXT_MODE=production

CMD ["zxt", "--help"]

FROM product AS sandbox
USER root
COPY --chown=zxt:zxt plugins/zxt_sandbox ./plugins/zxt_sandbox
RUN uv pip install --system --no-deps -e .
USER zxt
