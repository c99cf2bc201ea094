from typing import Literal

AccessRole = Literal["admin", "client"]

ACCESS_ROLE_VALUES: set[AccessRole] = {
    "admin",
    "client",
}


def check_access_role(value: str) -> AccessRole:
    if value in ACCESS_ROLE_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {ACCESS_ROLE_VALUES!r}"
    )
