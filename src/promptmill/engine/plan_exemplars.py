"""Worked task -> plan exemplars shown to the planning model, as Anthropic's metaprompt does.

Written by us, varied on purpose (a trip-planning service with several inputs, a classifier, an
extraction to JSON, a reasoning tutor) so a small model sees what a specific plan looks
like for each kind of task: a context that says who uses the assistant and why, inputs
that are only what it receives, edge cases, a tone, an exact output specification and
short worked examples. They are kept compact because the embedded model's context is
4096 tokens and they are evaluated on every planning call (once per process when the
backend reuses the prompt prefix, since they sit in the fixed part of the meta-prompt).

Each exemplar is a plan in the schema of ``plan.plan_schema()``; a test checks that every
one parses and validates.
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
                "Pick activities that fit the dates, the season and the budget",
                "Group nearby activities on the same day",
                "Add up the costs and list what must be booked",
            ],
            "constraints": [
                "Keep the total cost within the budget",
                "Respect every mobility need",
            ],
            "edge_cases": [
                "If the dates or budget are missing, ask for them before planning",
                "If the destination is unsafe or closed, say so and suggest another",
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
                "Read the posting",
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
                {"name": "location", "type": "string or null", "description": "City or remote"},
                {"name": "salary", "type": "string or null", "description": "As written"},
            ],
            "examples": [
                {
                    "input": "Acme hires a Python Developer in Berlin, EUR 70-85k.",
                    "output": '{"title": "Python Developer", "company": "Acme", '
                    '"location": "Berlin", "salary": "EUR 70-85k"}',
                }
            ],
        },
    ),
    (
        "a math tutor",
        {
            "task_kind": "reason",
            "role": "patient math tutor",
            "context": "Secondary school students use you when stuck on homework, to learn "
            "the method rather than copy an answer.",
            "objective": "Help a student solve a math problem step by step.",
            "inputs": [
                {"name": "PROBLEM", "description": "The math problem the student works on"},
                {"name": "STUDENT_WORK", "description": "The student's attempt so far, or empty"},
            ],
            "steps": [
                "Solve the problem yourself first",
                "Compare your solution with the student's work",
                "Point out the first mistake or the next step",
                "Give a hint, then the worked solution",
            ],
            "constraints": ["Show every step of the working"],
            "edge_cases": [
                "If the student's work is empty, start from the first step",
                "If the question is not about math, say you only help with math",
            ],
            "tone": "Encouraging and clear",
            "output_format": "A one-line hint, then the worked solution, then the final "
            "answer on its own line.",
            "output_fields": [],
            "examples": [
                {
                    "input": "Solve 2x + 3 = 11. Student: 2x = 14",
                    "output": "Hint: subtract 3 from both sides.\n2x = 8\nx = 4\n"
                    "Final answer: x = 4",
                }
            ],
        },
    ),
)
