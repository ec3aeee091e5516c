from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegisterIn(BaseModel):
    login: str = Field(max_length=254, description="mainland mobile number or email")
    password: str = Field(max_length=200)
    display_name: str = Field(default="", max_length=40)


class LoginIn(BaseModel):
    login: str = Field(max_length=254)
    password: str = Field(max_length=200)


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"
    user_id: int


class MeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    display_name: str
    phone: str | None
    email: str | None
    is_operator: bool
    is_creator: bool
    is_sharer: bool
    shop_ids: list[int] = []
