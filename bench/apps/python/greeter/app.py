"""The flask app: `gunicorn greeter.app:app`, or `python -m greeter.app --once`."""
import sys

from flask import Flask, jsonify
from markupsafe import escape

GREETING = "hello from the python greeter"

app = Flask(__name__)
_hits = {"n": 0}


def page(name, hits):
    """The page for a visitor name (HTML-escaped)."""
    who = f", {escape(name)}" if name else ""
    return f"<p>{GREETING}{who} (request #{hits})</p>\n"


@app.get("/")
def index():
    from flask import request

    _hits["n"] += 1
    return page(request.args.get("name", ""), _hits["n"])


@app.get("/health")
def health():
    return jsonify(status="ok")


if __name__ == "__main__":
    if "--once" in sys.argv:
        sys.stdout.write(page("", 1))
    else:
        app.run(host="0.0.0.0", port=8000)
