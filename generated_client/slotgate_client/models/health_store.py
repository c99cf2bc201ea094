from typing import Literal

HealthStore = Literal["postgresql", "sqlite"]

HEALTH_STORE_VALUES: set[HealthStore] = {
    "postgresql",
    "sqlite",
}


def check_health_store(value: str) -> HealthStore:
    if value in HEALTH_STORE_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {HEALTH_STORE_VALUES!r}"
    )
