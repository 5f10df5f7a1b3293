"""One HTTP request as the handlers see it, and checks for body fields."""
import json
import urllib.parse

from errors import bad_request


class Request:
    def __init__(self, method, path, query, headers, body, params=None):
        self.method = method
        self.path = path
        self.query = query  # first value of each query parameter
        self.headers = headers
        self.body = body  # raw bytes
        self.params = params or {}  # named parts of the path

    def json(self):
        """The body as a JSON object; an empty body is an empty object."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Invalid JSON body")
        if not isinstance(value, dict):
            raise bad_request("The JSON body must be an object")
        return value

    def form_or_json(self):
        """A form-encoded body as a dict of first values, or else the JSON object."""
        content_type = (self.headers.get("Content-Type") or "").lower()
        if content_type.startswith("application/x-www-form-urlencoded"):
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                raise bad_request("Invalid form body")
            fields = urllib.parse.parse_qs(text, keep_blank_values=True)
            return {name: values[0] for name, values in fields.items()}
        return self.json()


def optional_str(body, name):
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value


def optional_int(body, name):
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise bad_request(f"{name} must be an integer")
    return value


def optional_number(body, name):
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise bad_request(f"{name} must be a number")
    return value


def optional_str_list(body, name):
    value = body.get(name)
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise bad_request(f"{name} must be a list of strings")
    return value


def optional_object(body, name):
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise bad_request(f"{name} must be an object")
    return value
