"""greeter: a tiny flask app for the buildspec benchmark."""
