"""Who the user is: Cognito sign-in, account self-service, token checks, sessions, the throttle.

Flask-free, like the core: each module receives the boto3 client (or the app
table's name) it needs and speaks in its own types and errors.

- ``cognito``: sign in (``USER_PASSWORD_AUTH`` and its challenges), create users.
- ``selfservice``: password reset, the authenticator app, the pool's password rules.
- ``tokens``: verify Cognito ID tokens before trusting what they say.
- ``sessions``: sign-out markers that make a sign-out final on the server.
- ``throttle``: failed sign-ins counted per account and per client.
"""
