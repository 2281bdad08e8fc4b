"""Worked task -> plan exemplars shown to the planning model, as Anthropic's metaprompt does.

Written by us, varied on purpose (a trip-planning service with several inputs, a
classifier, an extraction to JSON) so a small model sees what a specific plan looks like:
a context that says who uses the assistant and why, inputs that are only what it
receives, edge cases, a tone, an exact output specification and short worked examples.
None of them is a task of bench/quality (the seed task once came back as a copy of its
exemplar), and none is a choice among lettered options: such an exemplar's "Options:
(A) ..." input was copied into the seed task's worked example, and choices are kept by
``choice.py`` and worded by the renderer rather than learnt from an exemplar. They are
few and compact because they are evaluated on every planning call that cannot reuse the
prefix (a 4-exemplar prefix of ~1,800 tokens took the seed task past the 120 s deadline
on a loaded 2-core machine), and because a small model writes plans as long as the ones
it is shown.

Each exemplar is a plan in the schema of ``plan.plan_schema()``; a test checks that every
one parses and validates. ``EXEMPLAR_SUBJECTS`` names, for each, the words of its own
subject (its labels, places, people): a plan for a request on another subject that uses
them has copied the exemplar (``exemplar_copies.py``).
"""

from __future__ import annotations

from typing import Any

PLAN_EXEMPLARS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "a travel agent who plans trips for a tour company",
        {
            "task_kind": "write",
            "role": "experienced travel agent",
            "context": "A tour company uses you to plan trips for its customers, who want "
            "a ready itinerary that fits their dates, budget and interests.",
            "objective": "Plan a trip with a day-by-day itinerary, bookings to make and a "
            "cost estimate for one customer.",
            "inputs": [
                {
                    "name": "TRAVELLER_PROFILE",
                    "description": "Who travels: ages, interests, mobility needs",
                },
                {"name": "DESTINATION", "description": "The city or region to visit"},
                {"name": "DATES_AND_BUDGET", "description": "Travel dates and the total budget"},
            ],
            "steps": [
                "Note the travellers' needs and interests",
                "Pick activities that fit the dates, season and budget",
                "Add up the costs and list what must be booked",
            ],
            "constraints": [
                "Keep the total cost within the budget",
                "Respect every mobility need",
            ],
            "edge_cases": [
                "If the dates or budget are missing, ask for them before planning",
            ],
            "tone": "Warm and practical",
            "output_format": "Markdown sections: Itinerary (one heading per day), Bookings, "
            "Cost estimate (a table).",
            "output_fields": [],
            "examples": [
                {
                    "input": "Couple in their 60s, museums; Lisbon; 3-5 May, EUR 900",
                    "output": "## Itinerary\n### Day 1\nMorning: Gulbenkian Museum...",
                }
            ],
        },
    ),
    (
        "classify support tickets by topic",
        {
            "task_kind": "classify",
            "role": "customer support triage specialist",
            "context": "A software company's support team uses you to route new tickets "
            "to the right queue quickly.",
            "objective": "Classify a support ticket into exactly one category.",
            "inputs": [{"name": "TICKET", "description": "The customer's ticket text"}],
            "steps": [
                "Read the whole ticket",
                "Find the customer's main problem",
                "Pick the one category that fits it best",
            ],
            "constraints": ["Use only: billing, bug, account, feature_request, other"],
            "edge_cases": ["If the ticket is empty or not about the product, answer other"],
            "tone": "Neutral",
            "output_format": "The category name only, in lower case.",
            "output_fields": [],
            "examples": [
                {"input": "I was charged twice in March.", "output": "billing"},
                {"input": "Export crashes since the update.", "output": "bug"},
            ],
        },
    ),
    (
        "pull the key facts out of job postings as JSON",
        {
            "task_kind": "extract",
            "role": "data extraction specialist",
            "context": "An HR team uses you to turn job postings into database records.",
            "objective": "Extract the key facts of a job posting as JSON.",
            "inputs": [{"name": "JOB_POSTING", "description": "The full text of one job posting"}],
            "steps": [
                "Find the title, company, location and salary",
                "Write them as JSON, with null for anything not stated",
            ],
            "constraints": ["Copy values as written; never guess"],
            "edge_cases": ["If the text is not a job posting, set every field to null"],
            "tone": "Plain data, no commentary",
            "output_format": "One JSON object and nothing else.",
            "output_fields": [
                {"name": "title", "type": "string", "description": "The job title"},
                {"name": "company", "type": "string or null", "description": "The employer"},
                {"name": "salary", "type": "string or null", "description": "As written"},
            ],
            "examples": [
                {
                    "input": "Acme hires a Python Developer in Berlin, EUR 70-85k.",
                    "output": '{"title": "Python Developer", "company": "Acme", '
                    '"salary": "EUR 70-85k"}',
                }
            ],
        },
    ),
)


EXEMPLAR_SUBJECTS: tuple[frozenset[str], ...] = (
    frozenset(
        {"travel", "traveller", "travellers", "trip", "trips", "itinerary", "itineraries"}
        | {"tour", "lisbon", "gulbenkian", "mobility", "destination", "bookings"}
    ),
    frozenset({"billing", "feature_request"}),
    frozenset(
        {"job", "jobs", "posting", "postings", "hr", "salary", "salaries", "employer"}
        | {"berlin", "eur", "hires"}
    ),
)
"""Per exemplar of ``PLAN_EXEMPLARS`` (same order), the words of its own subject, lower case."""
