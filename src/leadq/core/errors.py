"""Errors a user can cause, each carrying a one-line message and an exit code."""

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_MODEL_NOT_FOUND = 3
EXIT_LEAKAGE = 4
EXIT_GATE = 5
EXIT_OUTPUT = 6
EXIT_RETRAIN = 7  # `leadq monitor`: a model version's verdict is retrain


class LeadqError(Exception):
    """A user-facing problem: the CLI prints `message` on one line and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.message = " ".join(str(message).split())
        self.exit_code = exit_code


class BadInputError(LeadqError):
    """Input data or configuration that cannot be used (exit code 2)."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_BAD_INPUT)


class ModelNotFoundError(LeadqError):
    """A model name, version or alias that does not exist (exit code 3)."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_MODEL_NOT_FOUND)


class OutputError(LeadqError):
    """An output the destination refused or lost mid-write; nothing was written (exit code 6)."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_OUTPUT)
