# policycast app image: the project's source on the base (docker/Dockerfile), run as the `app` user.
# Every service image (services/<name>/Dockerfile) is this plus its port and entrypoint, so the source
# is one layer shared by all four. Built by docker/build.sh; context = the repository root.
ARG BASE_IMAGE=policycast-base:local
FROM ${BASE_IMAGE}
COPY configs /app/configs
COPY services /app/services
COPY train.py pyproject.toml /app/
# The archives beside the runs volumes (runs.keep: older experiments move there), owned by `app` so that
# a fresh named volume mounted there is writable. Here rather than in the base, whose change would
# rebuild every dependency layer.
RUN mkdir -p /runs_all /trainer-runs_all /tester-runs_all && chown app:app /runs_all /trainer-runs_all /tester-runs_all
USER app
