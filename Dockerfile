# One image for the hub and every connector; the command chooses the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY mashlink mashlink
COPY schemas schemas
COPY mapping mapping
COPY broker broker
COPY hub hub
COPY connectors connectors
COPY ops ops
COPY config config
COPY bench bench
RUN pip install --no-cache-dir . && useradd --system --uid 10001 mashlink \
    && install -d -o mashlink -g mashlink -m 0700 /var/lib/mashlink
# Local state (audit key when not configured, anchors, receipts, event stores): a volume per service.
ENV MASHLINK_STATE_DIR=/var/lib/mashlink
USER mashlink
ENTRYPOINT ["mashlink"]
CMD ["--help"]
