import unittest

from greeter.app import GREETING, app, page


class PageTest(unittest.TestCase):
    def test_greets_and_counts(self):
        self.assertEqual(page("", 7), f"<p>{GREETING} (request #7)</p>\n")

    def test_escapes_name(self):
        self.assertIn("&lt;b&gt;", page("<b>", 1))

    def test_health_route(self):
        resp = app.test_client().get("/health")
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(resp.get_json(), {"status": "ok"})


if __name__ == "__main__":
    unittest.main()
