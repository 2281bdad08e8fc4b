"""The task's language: detected cheaply, asked of the planner, used by the renderer.

The planner (here a scripted backend) writes the plan in the task's language; the
renderer's frame is translated where we have a translation; names stay ASCII.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.checks import VARIABLE_NAME, content_words, placeholders
from promptmill.engine.language import detect_language
from promptmill.engine.types import PromptMessage
from tests.fakes.scripted_backend import ScriptedBackend

# Per language: a task, the plan a model would write for it, and a heading of the
# translated frame that must appear (while its English counterpart must not).
CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "Russian": (
        "Повар для сервиса планирования питания на неделю",
        {
            "role": "опытный повар сервиса планирования питания",
            "objective": "Составь план питания на неделю для клиента.",
            "inputs": [
                {"name": "DIETARY_NEEDS", "description": "Диета и аллергии клиента"},
            ],
            "steps": ["Изучи диету клиента", "Подбери рецепты", "Составь список покупок"],
            "constraints": ["Никогда не используй продукты, на которые у клиента аллергия"],
            "output_format": "Таблица блюд по дням и список покупок",
            "think_first": True,
        },
        "Выполни следующие шаги:",
    ),
    "German": (
        "Ein Koch für einen Dienst zur Planung von Mahlzeiten für die Woche",
        {
            "role": "ein erfahrener Koch für die Planung von Mahlzeiten",
            "objective": "Erstelle einen Wochenplan mit Mahlzeiten für den Kunden.",
            "inputs": [
                {"name": "DIETARY_NEEDS", "description": "Die Ernährung und Allergien des Kunden"},
            ],
            "steps": [
                "Lies die Ernährungswünsche",
                "Wähle Rezepte aus",
                "Schreibe die Einkaufsliste",
            ],
            "constraints": ["Verwende nie eine Zutat, gegen die der Kunde allergisch ist"],
            "output_format": "Eine Tabelle der Mahlzeiten pro Tag und eine Einkaufsliste",
            "think_first": True,
        },
        "Gehe in diesen Schritten vor:",
    ),
    "French": (
        "Un chef pour un service de planification des repas de la semaine",
        {
            "role": "un chef expérimenté en planification des repas",
            "objective": "Établis un plan de repas pour la semaine du client.",
            "inputs": [
                {"name": "DIETARY_NEEDS", "description": "Le régime et les allergies du client"},
            ],
            "steps": [
                "Lis le régime du client",
                "Choisis des recettes",
                "Écris la liste de courses",
            ],
            "constraints": ["N'utilise jamais un ingrédient auquel le client est allergique"],
            "output_format": "Un tableau des repas par jour et une liste de courses",
            "think_first": True,
        },
        "Suis ces étapes :",
    ),
    "Spanish": (
        "Un chef para un servicio de planificación de comidas de la semana",
        {
            "role": "un chef experto en planificación de comidas",
            "objective": "Elabora un plan de comidas para la semana del cliente.",
            "inputs": [
                {"name": "DIETARY_NEEDS", "description": "La dieta y las alergias del cliente"},
            ],
            "steps": [
                "Lee la dieta del cliente",
                "Elige las recetas",
                "Escribe la lista de compras",
            ],
            "constraints": ["Nunca uses un ingrediente al que el cliente sea alérgico"],
            "output_format": "Una tabla de comidas por día y una lista de compras",
            "think_first": True,
        },
        "Sigue estos pasos:",
    ),
    "Japanese": (
        "食事計画サービスのためのシェフ",
        {
            "role": "食事計画サービスの経験豊富なシェフ",
            "objective": "顧客のための一週間の食事計画を作成する。",
            "inputs": [{"name": "DIETARY_NEEDS", "description": "顧客の食事制限とアレルギー"}],
            "steps": ["顧客の食事制限を確認する", "レシピを選ぶ", "買い物リストを書く"],
            "constraints": ["顧客がアレルギーを持つ食材は決して使わない"],
            "output_format": "曜日ごとの食事の表と買い物リスト",
            "think_first": True,
        },
        "次の手順に従ってください：",
    ),
}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a chef for a meal prep planning service", "en"),
        ("Translate hello to German", "en"),
        ("Summarize the café menu for the guests", "en"),
        (CASES["Russian"][0], "ru"),
        (CASES["German"][0], "de"),
        (CASES["French"][0], "fr"),
        (CASES["Spanish"][0], "es"),
        (CASES["Japanese"][0], "ja"),
        ("为餐饮计划服务的厨师", "zh"),
        ("Uno chef per un servizio di pianificazione dei pasti", "it"),
        ("", "en"),
    ],
)
def test_the_language_of_a_text_is_detected_by_script_and_function_words(
    text: str, code: str
) -> None:
    assert detect_language(text).code == code


@pytest.mark.parametrize("language", sorted(CASES))
def test_the_planner_is_asked_to_write_in_the_tasks_language(language: str) -> None:
    task, plan, _ = CASES[language]
    backend = ScriptedBackend([json.dumps(plan, ensure_ascii=False)])
    PromptEngine(backend).generate(task, "claude-opus-4-6")
    meta_prompt = backend.requests[0].turns[0].text
    assert f"The task description is written in {language}." in meta_prompt
    assert "Write every text field of the plan" in meta_prompt
    assert "Input names stay ASCII UPPER_SNAKE_CASE" in meta_prompt


def test_an_english_task_gets_no_language_instruction() -> None:
    backend = ScriptedBackend(
        [
            json.dumps(
                {
                    "role": "meal-prep chef",
                    "objective": "Plan a week of meals for a client.",
                    "inputs": [{"name": "DIET", "description": "The client's diet and allergies"}],
                    "steps": ["Read the diet", "Pick meal recipes", "Write the shopping list"],
                    "constraints": ["Respect allergies"],
                    "output_format": "A table of meals",
                }
            )
        ]
    )
    PromptEngine(backend).generate("a chef for a meal prep planning service")
    assert "is written in" not in backend.requests[0].turns[0].text


@pytest.mark.parametrize("language", sorted(CASES))
@pytest.mark.parametrize("target", ["claude-opus-4-6", "gpt-4o", "llama-3.1-8b", "gemini-2.5-pro"])
def test_the_prompt_frame_is_in_the_tasks_language(language: str, target: str) -> None:
    task, plan, claude_heading = CASES[language]
    backend = ScriptedBackend([json.dumps(plan, ensure_ascii=False)])
    result = PromptEngine(backend).generate(task, target)
    prompt = result.messages[0].text
    assert len(result.usage) == 1  # accepted as it is: on topic, in the right language
    assert placeholders(prompt) == ["DIETARY_NEEDS"]
    assert plan["steps"][1] in prompt
    for english in ("Follow these steps", "Identity", "Steps", "Rules", "Output format"):
        assert english not in prompt
    if target == "claude-opus-4-6":
        assert claude_heading in prompt


def test_improve_writes_in_the_language_of_the_prompt_being_improved() -> None:
    plan = {k: v for k, v in CASES["German"][1].items() if k != "inputs"}
    plan["input_descriptions"] = {"TICKET": "Das Support-Ticket des Kunden mit allen Details"}
    backend = ScriptedBackend([json.dumps(plan, ensure_ascii=False)])
    result = PromptEngine(backend).improve(
        [PromptMessage.of("user", "Fasse das Ticket in zwei Sätzen zusammen: {{TICKET}}")],
        feedback="Also extract the product name",
        target_model="claude-sonnet-4-6",
    )
    assert "The original prompt is written in German." in backend.requests[0].turns[0].text
    assert "Gehe in diesen Schritten vor:" in result.messages[0].text


def test_a_plan_in_another_language_than_the_task_gets_one_more_try() -> None:
    task, plan, _ = CASES["Russian"]
    english = {
        **plan,
        "role": "experienced meal planning chef",
        "objective": "Plan a week of meals for the client.",
        "inputs": [{"name": "DIETARY_NEEDS", "description": "The client's diet and allergies"}],
        "steps": ["Read the diet", "Choose recipes", "Write the shopping list"],
        "constraints": ["Never use an ingredient the client is allergic to"],
        "output_format": "A table of meals per day and a shopping list",
    }
    backend = ScriptedBackend([json.dumps(english), json.dumps(plan, ensure_ascii=False)])
    result = PromptEngine(backend).generate(task)
    assert "the plan is not written in Russian" in backend.requests[1].turns[-1].text
    assert "Выполни следующие шаги:" in result.messages[0].text


def test_an_input_name_in_another_script_is_sent_back_for_an_ascii_one() -> None:
    task, plan, _ = CASES["Russian"]
    cyrillic = {**plan, "inputs": [{"name": "ДИЕТА", "description": "Диета и аллергии клиента"}]}
    backend = ScriptedBackend([json.dumps(cyrillic, ensure_ascii=False), json.dumps(plan)])
    result = PromptEngine(backend).generate(task)
    assert "has no ASCII letters" in backend.requests[1].turns[-1].text
    assert all(VARIABLE_NAME.match(n) for n in placeholders(result.messages[0].text))


def test_accented_input_names_are_folded_to_ascii() -> None:
    task, plan, _ = CASES["French"]
    accented = {**plan, "inputs": [{"name": "régime_client", "description": "Le régime du client"}]}
    backend = ScriptedBackend([json.dumps(accented, ensure_ascii=False)])
    result = PromptEngine(backend).generate(task)
    assert placeholders(result.messages[0].text) == ["REGIME_CLIENT"]


@pytest.mark.parametrize("language", ["Russian", "Japanese", "German"])
def test_an_off_topic_plan_is_sent_back_in_any_language(language: str) -> None:
    task, plan, _ = CASES[language]
    off_topic = {
        "Russian": {
            **plan,
            "role": "пилот самолёта",
            "objective": "Управляй воздушным судном.",
            "inputs": [{"name": "ROUTE", "description": "Маршрут полёта самолёта"}],
            "steps": ["Проверь погоду", "Подай полётный план", "Взлетай"],
            "constraints": ["Слушай авиадиспетчера"],
            "output_format": "Бортовой журнал",
        },
        "Japanese": {
            **plan,
            "role": "航空機のパイロット",
            "objective": "航空機を操縦する。",
            "inputs": [{"name": "ROUTE", "description": "飛行ルートの詳細"}],
            "steps": ["天気を確認する", "フライトプランを提出する", "離陸する"],
            "constraints": ["航空管制に従う"],
            "output_format": "飛行日誌",
        },
        "German": {
            **plan,
            "role": "ein Pilot",
            "objective": "Fliege das Flugzeug sicher.",
            "inputs": [{"name": "ROUTE", "description": "Die geplante Flugroute"}],
            "steps": ["Prüfe das Wetter", "Reiche den Flugplan ein", "Starte"],
            "constraints": ["Befolge die Anweisungen der Flugsicherung"],
            "output_format": "Ein Flugtagebuch",
        },
    }[language]
    backend = ScriptedBackend(
        [json.dumps(off_topic, ensure_ascii=False), json.dumps(plan, ensure_ascii=False)]
    )
    PromptEngine(backend).generate(task)
    assert "the plan is not about the task" in backend.requests[1].turns[-1].text


def test_japanese_and_chinese_text_is_compared_by_character_pairs() -> None:
    assert {"食事", "計画"} <= content_words("食事計画サービスのためのシェフ")
    assert "ため" not in content_words("食事計画サービスのためのシェフ")  # hiragana: grammar


@pytest.mark.parametrize("text", ["", "¡¿!", "١٢٣", "๑๒", "・", "42 + 7 = 49"])
def test_a_text_without_letters_is_english(text: str) -> None:
    # Some scripts' ranges and some letter hints hold digits and signs: they alone
    # decide nothing.
    assert detect_language(text).code == "en"
