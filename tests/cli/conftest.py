from tests.sdk.conftest import sdk_server

__all__ = ["sdk_server"]
