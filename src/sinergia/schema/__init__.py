"""The canonical customer model: the entities every source is mapped into."""

from sinergia.schema.entities import ENTITIES, Entity, Field, entity

__all__ = ["ENTITIES", "Entity", "Field", "entity"]
