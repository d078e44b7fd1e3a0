# The one image for the web server (gunicorn) and the Celery workers: Python 3.11, the
# project's dependencies, the pinned OHIF build (from npm, exactly as package-lock.json says)
# and the collected static files. Settings come from the environment (see compose.yaml).

FROM node:20-slim AS viewer
WORKDIR /app
COPY package.json package-lock.json ./
# Only the built @ohif/app package: its dependencies are bundled into dist/ already.
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    DICOM_STORAGE_DIR=/dicom \
    STATIC_ROOT=/app/staticfiles
WORKDIR /app

# Dependencies first, so a code change does not reinstall them. The project itself runs from
# /app: pyproject.toml installs no package, only what it depends on.
COPY pyproject.toml README.md requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock && pip install --no-deps .

COPY . .
COPY --from=viewer /app/node_modules ./node_modules
# Build-time settings only: the throwaway key and data folder are not kept in the image.
RUN SECRET_KEY=build-only DATA_DIR=/tmp/build DICOM_STORAGE_DIR=/tmp/build/dicom \
      sh -c "python manage.py collectstatic --noinput -v 0 && python manage.py compress_ohif" \
 && rm -rf /tmp/build \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ohifsite \
 && mkdir -p /data /dicom \
 && chown ohifsite /data /dicom

USER ohifsite
VOLUME ["/data", "/dicom"]
EXPOSE 8000 11112
# Workers, threads, timeout and the access log: gunicorn.conf.py.
CMD ["gunicorn", "ohifsite.wsgi", "--bind", "0.0.0.0:8000"]
