# The python greeter as a newcomer writes it: one stage, the whole project copied first.
FROM python:3.12-slim
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
RUN python -m unittest discover -s tests -t .
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "greeter.app:app"]
