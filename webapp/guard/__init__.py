"""Server-side guards of sign-in: session markers that make sign-out final, the attempt throttle.

Flask-free: each gateway receives the DynamoDB client and the app table's name.
"""
