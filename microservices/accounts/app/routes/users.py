"""Registration and user profiles."""

from __future__ import annotations

from fastapi import APIRouter

from app.dependencies import IdentityDep, SignedIn
from app.errors import NotAuthenticated, UserNotFound
from app.schemas import PublicUser, UserCreate, UserOut

router = APIRouter(tags=["users"])


@router.post(
    "/users",
    responses={400: {"description": "A user with this phone number already exists"}},
)
async def create_user(body: UserCreate, identity: IdentityDep) -> UserOut:
    """Register a user (public). Their account is created with them, with a zero balance."""
    user = await identity.register_user(
        phone_number=body.phone_number, password=body.password, date_of_birth=body.date_of_birth
    )
    return UserOut.of(user)


@router.get("/users/me", responses={401: {"description": "Missing, invalid or expired token"}})
async def read_current_user(principal: SignedIn, identity: IdentityDep) -> UserOut:
    """The signed-in user."""
    try:
        user = await identity.get_user(principal.user_id)
    except UserNotFound as exc:
        # A valid token for a user who no longer exists authenticates nobody.
        raise NotAuthenticated() from exc
    return UserOut.of(user)


@router.get("/users/{user_id}", responses={404: {"description": "No such user"}})
async def read_user(
    user_id: str, principal: SignedIn, identity: IdentityDep
) -> UserOut | PublicUser:
    """A user. Phone number and date of birth only for the user themself or an admin."""
    user = await identity.get_user(user_id)
    if principal.is_admin or principal.user_id == user.id:
        return UserOut.of(user)
    return PublicUser.of(user)
