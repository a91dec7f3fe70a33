"""A tiny Flask app; `hello --once` prints the greeting and exits."""
import argparse

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    if args.once:
        with app.test_client() as client:
            print(client.get("/").get_data(as_text=True), end="")
        return
    app.run(host="0.0.0.0", port=args.port)
