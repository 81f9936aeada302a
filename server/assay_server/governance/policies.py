"""Policy files: YAML in, a validated document out, or every error named by file, rule, field.

A policy says where it applies (``applies_to``), which rules a version must pass there
(``rules``, of the closed set of kinds in :mod:`.rules`) and who must approve
(``approvals``). Nothing in a policy is executed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import yaml
from marshmallow import ValidationError, fields, validate

from ..errors import ValidationFailed
from ..registry.aliases import ALIAS_PATTERN, ALIAS_RULE
from ..registry.models import ModelVersion, RegisteredModel, RiskTier, Stage
from ..roles import Role
from ..schemas import StrictSchema
from .rule_schemas import RULE_KINDS, RULE_SCHEMAS, Rule

if TYPE_CHECKING:
    from typing_extensions import NotRequired

POLICY_NAME = validate.Regexp(
    r"^[a-z0-9][a-z0-9._-]{0,99}\Z",
    error="A policy name is a lowercase slug of 1–100 characters: a-z, 0-9, '.', '_', '-'.",
)
MAX_POLICY_BYTES = 256 * 1024
MAX_RULES = 100


class AppliesToSchema(StrictSchema):
    """Where a policy applies; an empty or absent list means "any"."""

    risk_tier = fields.List(
        fields.String(validate=validate.OneOf([t.value for t in RiskTier])), load_default=list
    )
    stage = fields.List(
        fields.String(validate=validate.OneOf([Stage.STAGING.value, Stage.PRODUCTION.value])),
        load_default=list,
    )
    models = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list)


class AppliesTo(TypedDict, total=False):
    """What :class:`AppliesToSchema` loads (``{}`` when the policy leaves it out)."""

    risk_tier: list[str]
    stage: list[str]
    models: list[str]
    tags: list[str]


class ApprovalsSchema(StrictSchema):
    """How many approvals a promotion needs, from which role, from whom; whether an admin's
    override of the gate passes it (``overrides_pass``, default no)."""

    required = fields.Integer(load_default=1, validate=validate.Range(min=0, max=10))
    role = fields.String(
        load_default=Role.APPROVER.value,
        validate=validate.OneOf([Role.APPROVER.value, Role.ADMIN.value]),
    )
    separation_of_duties = fields.Boolean(load_default=True)
    independent_of_owner = fields.Boolean(load_default=False)
    overrides_pass = fields.Boolean(load_default=False)


class StatedApprovals(TypedDict, total=False):
    """What :class:`ApprovalsSchema` loads (``{}`` when the policy leaves it out)."""

    required: int
    role: str
    separation_of_duties: bool
    independent_of_owner: bool
    overrides_pass: bool


class PolicyDocumentSchema(StrictSchema):
    """A policy file's top level; the rules are checked one by one, by kind."""

    name = fields.String(required=True, validate=POLICY_NAME)
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    applies_to = fields.Nested(AppliesToSchema, load_default=dict)
    rules = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_RULES))
    approvals = fields.Nested(ApprovalsSchema, load_default=dict)
    # aliases (registry/aliases.py) that only the promotion flow may move where this applies;
    # a promotion request moving one is judged by this policy's rules and approvals
    governed_aliases = fields.List(
        fields.String(validate=validate.Regexp(ALIAS_PATTERN, error=ALIAS_RULE)), load_default=list
    )


class PolicyDocument(TypedDict):
    """A validated policy, as its versions store it: each rule loaded by its kind's schema."""

    name: str
    description: str
    applies_to: AppliesTo
    rules: list[Rule]
    approvals: StatedApprovals
    governed_aliases: NotRequired[list[str]]  # absent from documents stored before aliases


class PolicyError(TypedDict):
    """One error in a policy file: where (file, rule, field) and what."""

    file: str
    rule: str | None
    field: str
    messages: list[str]


@dataclass(frozen=True)
class PolicyFile:
    """A policy file's name and text, as applied."""

    filename: str
    source: str

    @property
    def sha256(self) -> str:
        """The hash of the text: a changed file is a new policy version."""
        return hashlib.sha256(self.source.encode()).hexdigest()


@dataclass(frozen=True)
class ParsedPolicy:
    """A validated policy: its file and its document."""

    file: PolicyFile
    document: PolicyDocument

    @property
    def name(self) -> str:
        """The policy's name."""
        return str(self.document["name"])


def _error(file: str, rule: str | None, field: str, messages: object) -> PolicyError:
    if isinstance(messages, dict):
        flat: list[str] = []
        for key, value in messages.items():
            flat.extend(f"{key}: {m}" for m in (value if isinstance(value, list) else [value]))
        messages = flat
    if not isinstance(messages, list):
        messages = [str(messages)]
    return {"file": file, "rule": rule, "field": field, "messages": [str(m) for m in messages]}


def _rule_errors(filename: str, rules: list[object]) -> tuple[list[PolicyError], list[Rule]]:
    errors: list[PolicyError] = []
    loaded: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(rules):
        label = f"#{index + 1}"
        if not isinstance(raw, dict):
            errors.append(_error(filename, label, "_rule", ["A rule is a mapping."]))
            continue
        if isinstance(raw.get("id"), str) and raw["id"]:
            label = raw["id"]
            if label in seen:
                errors.append(_error(filename, label, "id", [f"Rule id {label!r} repeats."]))
            seen.add(label)
        kind = raw.get("check")
        schema_class = RULE_SCHEMAS.get(kind) if isinstance(kind, str) else None
        if schema_class is None:
            message = (
                "Missing data for required field."
                if kind is None
                else f"Unknown rule kind {kind!r}; one of {', '.join(RULE_KINDS)}."
            )
            errors.append(_error(filename, label, "check", [message]))
            continue
        try:
            rule = schema_class().load(raw)
        except ValidationError as exc:
            messages = exc.normalized_messages()
            assert isinstance(messages, dict)
            errors.extend(_error(filename, label, f, m) for f, m in messages.items())
            continue
        loaded.append(rule)
    return errors, loaded


def validate_policy(file: PolicyFile) -> tuple[ParsedPolicy | None, list[PolicyError]]:
    """Parse and check one file; return the policy, or None and every error found."""
    name = file.filename
    if len(file.source.encode()) > MAX_POLICY_BYTES:
        return None, [_error(name, None, "_file", [f"Larger than {MAX_POLICY_BYTES} bytes."])]
    try:
        raw = yaml.safe_load(file.source)
    except yaml.YAMLError as exc:
        return None, [_error(name, None, "_file", [f"Not valid YAML: {exc}".splitlines()[0]])]
    except RecursionError:  # PyYAML recurses once per level: a thousand levels end here
        return None, [_error(name, None, "_file", ["Not valid YAML: nested too deeply."])]
    if not isinstance(raw, dict):
        return None, [_error(name, None, "_file", ["A policy file is a YAML mapping."])]
    errors: list[PolicyError] = []
    try:
        document = PolicyDocumentSchema().load(raw)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        assert isinstance(messages, dict)
        errors.extend(
            _error(name, None, field, value)
            for field, value in messages.items()
            if field != "rules"
        )
        if "rules" in messages and not isinstance(raw.get("rules"), list):
            errors.append(_error(name, None, "rules", messages["rules"]))
        document = None
    rules = raw.get("rules")
    rule_errors, loaded = _rule_errors(name, rules) if isinstance(rules, list) else ([], [])
    errors.extend(rule_errors)
    if isinstance(rules, list) and not rules:
        errors.append(_error(name, None, "rules", ["A policy needs at least one rule."]))
    if errors or document is None:
        return None, errors
    document["rules"] = loaded
    return ParsedPolicy(file=file, document=document), []


def validate_policies(files: list[PolicyFile]) -> list[ParsedPolicy]:
    """Check every file; raise :class:`ValidationFailed` listing all errors of all files."""
    parsed: list[ParsedPolicy] = []
    errors: list[PolicyError] = []
    for file in files:
        policy, problems = validate_policy(file)
        errors.extend(problems)
        if policy is not None:
            parsed.append(policy)
    names = [p.name for p in parsed]
    for repeated in sorted({n for n in names if names.count(n) > 1}):
        errors.append(
            _error(
                ", ".join(p.file.filename for p in parsed if p.name == repeated),
                None,
                "name",
                [f"Two files define the policy {repeated!r}."],
            )
        )
    if errors:
        first = errors[0]
        where = first["file"] + (f", rule {first['rule']}" if first["rule"] else "")
        raise ValidationFailed(
            f"{len(errors)} error(s) in the policy files; first: {where}, field "
            f"{first['field']}: {first['messages'][0]}",
            details={"errors": errors},
        )
    return parsed


def read_directory(directory: Path) -> list[PolicyFile]:
    """Every ``*.yaml`` / ``*.yml`` file of ``directory``, sorted by name."""
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    return [PolicyFile(filename=p.name, source=p.read_text(encoding="utf-8")) for p in paths]


def bundled_policies() -> list[PolicyFile]:
    """The policy packs shipped with the server (``assay_server.policies``)."""
    package = resources.files("assay_server.policies")
    return [
        PolicyFile(filename=item.name, source=item.read_text(encoding="utf-8"))
        for item in sorted(package.iterdir(), key=lambda i: i.name)
        if item.name.endswith((".yaml", ".yml"))
    ]


def applies(
    document: PolicyDocument, *, model: RegisteredModel, version: ModelVersion, stage: str
) -> bool:
    """True when the policy applies to promoting ``version`` of ``model`` to ``stage``."""
    scope = document.get("applies_to") or {}
    if scope.get("risk_tier") and model.risk_tier not in scope["risk_tier"]:
        return False
    if scope.get("stage") and stage not in scope["stage"]:
        return False
    if scope.get("models") and model.name not in scope["models"]:
        return False
    tags = set(model.tags or []) | set(version.tags or [])
    return not (scope.get("tags") and not tags & set(scope["tags"]))


def governs(document: PolicyDocument, *, model: RegisteredModel, alias: str) -> bool:
    """True when the policy governs ``alias`` of ``model``: it names the alias in
    ``governed_aliases`` and applies to the model (its risk tier, name and tags; an alias is
    not a stage, so ``stage`` is not asked). Such a policy refuses a direct move of the alias
    and judges a promotion request moving it."""
    if alias not in document.get("governed_aliases", []):
        return False
    scope = document.get("applies_to") or {}
    if scope.get("risk_tier") and model.risk_tier not in scope["risk_tier"]:
        return False
    if scope.get("models") and model.name not in scope["models"]:
        return False
    return not (scope.get("tags") and not set(model.tags or []) & set(scope["tags"]))
