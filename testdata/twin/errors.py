"""Errors in LiteLLM's shape: an HTTP status and
{"error": {"message", "type", "param", "code"}}."""


class ApiError(Exception):
    def __init__(self, status, message, error_type):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type

    def body(self):
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": "None",
                "code": str(self.status),
            }
        }


def auth_error(status, message):
    return ApiError(status, message, "auth_error")


def bad_request(message):
    return ApiError(400, message, "bad_request_error")


def not_found(message):
    return ApiError(404, message, "not_found_error")
