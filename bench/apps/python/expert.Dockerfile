# The python greeter as an expert writes it by hand: requirements first into a venv (pip
# cache in a cache mount), the package copied after, tests in their own stage that the
# runtime takes the package from (so they gate the image), slim runtime as nobody.
FROM python:3.12-slim AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip,id=pip \
    /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM deps AS test
WORKDIR /app
COPY greeter ./greeter
COPY tests ./tests
RUN /opt/venv/bin/python -m unittest discover -s tests -t .

FROM python:3.12-slim AS app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1
COPY --from=deps /opt/venv /opt/venv
COPY --from=test /app/greeter ./greeter
USER 65534:65534
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "greeter.app:app"]
