"""The renderer's fixed text (headings, connecting sentences) in each language we have.

The model writes the substance of a prompt in the task's language; the renderer writes
the frame around it. A prompt whose frame is English and whose content is Russian reads
oddly to the model it is given to, so the frame is translated for the languages listed
here. Any other language keeps the English frame around content in its own language.
Tag names (``<thinking>``, ``<answer>``, input tags) and ``{{VARIABLES}}`` are never
translated: they are the prompt's structure, checked by ``checks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptmill.engine.language import Language


@dataclass(frozen=True)
class Headings:
    """One language's frame. ``{role}``, ``{opening}`` and ``{description}`` are filled in."""

    role_line: str  # empty for English, whose role line needs an article (see render.py)
    information: str
    steps_intro: str
    rules_intro: str
    answer_format: str
    think_in_tags: str
    answer_in_tags: str
    begin_with: str
    identity: str
    instructions: str
    rules: str
    output_format: str
    input: str
    role: str
    task: str
    steps: str
    inputs: str
    reason_then_final_line: str
    reason_then_answer: str
    think_before_answering: str
    input_label: str
    edge_cases_intro: str
    tone: str
    fields_intro: str
    examples_intro: str
    examples: str
    direct_answer: str
    choose_answer: str  # the whole answer format of a choice (the ``choose`` kind)
    options_answer: str  # for decisions whose input may list options (classify, reason)
    colon: str = ":"
    full_stop: str = "."
    gap: str = " "  # between sentences, and after a colon; none in Japanese


ENGLISH_HEADINGS = Headings(
    role_line="",
    information="Here is the information you will work with.",
    steps_intro="Follow these steps:",
    rules_intro="Keep to these rules:",
    answer_format="Format of your answer:",
    think_in_tags=(
        "Before answering, think the problem through step by step inside "
        "<thinking></thinking> tags. Then write your final answer inside "
        "<answer></answer> tags."
    ),
    answer_in_tags="Write your final answer inside <answer></answer> tags.",
    begin_with="Begin your answer directly inside {opening} tags, with nothing before them.",
    identity="Identity",
    instructions="Instructions",
    rules="Rules",
    output_format="Output format",
    input="Input",
    role="Role",
    task="Task",
    steps="Steps",
    inputs="Inputs",
    reason_then_final_line=(
        "Reason step by step first, then give the final answer last, "
        "after a line that reads 'Final answer:'."
    ),
    reason_then_answer="Explain your reasoning step by step, then state the final answer.",
    think_before_answering=(
        "Think through the problem step by step before giving your final answer."
    ),
    input_label="Input — {description}:",
    edge_cases_intro="When the input is unusual:",
    tone="Tone",
    fields_intro="The answer has exactly these fields:",
    examples_intro=(
        "Here are examples of an input and the ideal answer to it. "
        "They show the form and quality expected; do not copy their content."
    ),
    examples="Examples",
    direct_answer="Give the answer directly, with no explanation or reasoning before it.",
    choose_answer=(
        "In one short sentence, say which item fits and why; then give the letter of the chosen "
        "option in parentheses, as the input writes it."
    ),
    options_answer=(
        "If the input lists options, answer with the chosen option as the input writes it (its "
        "letter in parentheses when the options are lettered)."
    ),
)

_TRANSLATED: dict[str, Headings] = {
    "en": ENGLISH_HEADINGS,
    "ru": Headings(
        role_line="Ты — {role}.",
        information="Вот информация, с которой ты будешь работать.",
        steps_intro="Выполни следующие шаги:",
        rules_intro="Соблюдай эти правила:",
        answer_format="Формат ответа:",
        think_in_tags=(
            "Прежде чем отвечать, продумай задачу шаг за шагом внутри тегов "
            "<thinking></thinking>. Затем напиши окончательный ответ внутри тегов "
            "<answer></answer>."
        ),
        answer_in_tags="Напиши окончательный ответ внутри тегов <answer></answer>.",
        begin_with="Начни ответ сразу внутри тегов {opening}, без какого-либо текста перед ними.",
        identity="Кто ты",
        instructions="Инструкции",
        rules="Правила",
        output_format="Формат ответа",
        input="Входные данные",
        role="Роль",
        task="Задача",
        steps="Шаги",
        inputs="Входные данные",
        reason_then_final_line=(
            "Сначала рассуждай шаг за шагом, затем дай окончательный ответ в самом конце, "
            "после строки 'Окончательный ответ:'."
        ),
        reason_then_answer=(
            "Объясни свои рассуждения шаг за шагом, затем сформулируй окончательный ответ."
        ),
        think_before_answering=(
            "Продумай задачу шаг за шагом, прежде чем дать окончательный ответ."
        ),
        input_label="Входные данные — {description}:",
        edge_cases_intro="Если входные данные необычны:",
        tone="Тон",
        fields_intro="Ответ содержит ровно эти поля:",
        examples_intro=(
            "Вот примеры входных данных и идеального ответа на них. "
            "Они показывают ожидаемые форму и качество; не копируй их содержание."
        ),
        examples="Примеры",
        direct_answer="Дай ответ сразу, без объяснений и рассуждений перед ним.",
        choose_answer=(
            "Одним коротким предложением скажи, какой элемент подходит и почему; затем укажи букву"
            " выбранного варианта в скобках, так, как она записана во входных данных."
        ),
        options_answer=(
            "Если во входных данных перечислены варианты, ответь выбранным вариантом так, как он "
            "записан во входных данных (его буквой в скобках, если варианты обозначены буквами)."
        ),
    ),
    "de": Headings(
        role_line="Du bist {role}.",
        information="Hier sind die Informationen, mit denen du arbeitest.",
        steps_intro="Gehe in diesen Schritten vor:",
        rules_intro="Halte dich an diese Regeln:",
        answer_format="Format deiner Antwort:",
        think_in_tags=(
            "Denke vor der Antwort innerhalb von <thinking></thinking>-Tags Schritt für "
            "Schritt über das Problem nach. Schreibe dann deine endgültige Antwort "
            "innerhalb von <answer></answer>-Tags."
        ),
        answer_in_tags="Schreibe deine endgültige Antwort innerhalb von <answer></answer>-Tags.",
        begin_with="Beginne deine Antwort direkt innerhalb der {opening}-Tags, ohne Text davor.",
        identity="Identität",
        instructions="Anweisungen",
        rules="Regeln",
        output_format="Ausgabeformat",
        input="Eingabe",
        role="Rolle",
        task="Aufgabe",
        steps="Schritte",
        inputs="Eingaben",
        reason_then_final_line=(
            "Denke zuerst Schritt für Schritt nach und gib die endgültige Antwort zuletzt, "
            "nach einer Zeile 'Endgültige Antwort:'."
        ),
        reason_then_answer=(
            "Erkläre deine Überlegungen Schritt für Schritt und nenne dann die endgültige Antwort."
        ),
        think_before_answering=(
            "Denke Schritt für Schritt über das Problem nach, bevor du deine endgültige "
            "Antwort gibst."
        ),
        input_label="Eingabe — {description}:",
        edge_cases_intro="Wenn die Eingabe ungewöhnlich ist:",
        tone="Ton",
        fields_intro="Die Antwort hat genau diese Felder:",
        examples_intro=(
            "Hier sind Beispiele für eine Eingabe und die ideale Antwort darauf. "
            "Sie zeigen die erwartete Form und Qualität; übernimm nicht ihren Inhalt."
        ),
        examples="Beispiele",
        direct_answer="Gib die Antwort direkt, ohne Erklärung oder Überlegungen davor.",
        choose_answer=(
            "Sag in einem kurzen Satz, welches Element passt und warum; gib dann den Buchstaben "
            "der gewählten Option in Klammern an, so wie die Eingabe ihn schreibt."
        ),
        options_answer=(
            "Wenn die Eingabe Optionen auflistet, antworte mit der gewählten Option so, wie die "
            "Eingabe sie schreibt (ihrem Buchstaben in Klammern, wenn die Optionen Buchstaben "
            "tragen)."
        ),
    ),
    "fr": Headings(
        role_line="Tu es {role}.",
        information="Voici les informations avec lesquelles tu vas travailler.",
        steps_intro="Suis ces étapes :",
        rules_intro="Respecte ces règles :",
        answer_format="Format de ta réponse :",
        think_in_tags=(
            "Avant de répondre, réfléchis au problème étape par étape entre les balises "
            "<thinking></thinking>. Écris ensuite ta réponse finale entre les balises "
            "<answer></answer>."
        ),
        answer_in_tags="Écris ta réponse finale entre les balises <answer></answer>.",
        begin_with="Commence ta réponse directement entre les balises {opening}, sans rien avant.",
        identity="Identité",
        instructions="Instructions",
        rules="Règles",
        output_format="Format de sortie",
        input="Entrée",
        role="Rôle",
        task="Tâche",
        steps="Étapes",
        inputs="Entrées",
        reason_then_final_line=(
            "Raisonne d'abord étape par étape, puis donne la réponse finale en dernier, "
            "après une ligne 'Réponse finale :'."
        ),
        reason_then_answer=(
            "Explique ton raisonnement étape par étape, puis donne la réponse finale."
        ),
        think_before_answering=(
            "Réfléchis au problème étape par étape avant de donner ta réponse finale."
        ),
        input_label="Entrée — {description} :",
        edge_cases_intro="Quand l'entrée est inhabituelle :",
        tone="Ton",
        fields_intro="La réponse contient exactement ces champs :",
        examples_intro=(
            "Voici des exemples d'entrée et de la réponse idéale. "
            "Ils montrent la forme et la qualité attendues ; n'en copie pas le contenu."
        ),
        examples="Exemples",
        direct_answer="Donne la réponse directement, sans explication ni raisonnement avant.",
        choose_answer=(
            "Dis en une courte phrase quel élément convient et pourquoi ; puis donne la lettre de "
            "l'option choisie entre parenthèses, comme l'entrée l'écrit."
        ),
        options_answer=(
            "Si l'entrée propose des options, réponds par l'option choisie comme l'entrée l'écrit "
            "(sa lettre entre parenthèses si les options sont désignées par des lettres)."
        ),
        colon=" :",
    ),
    "es": Headings(
        role_line="Eres {role}.",
        information="Aquí tienes la información con la que vas a trabajar.",
        steps_intro="Sigue estos pasos:",
        rules_intro="Respeta estas reglas:",
        answer_format="Formato de tu respuesta:",
        think_in_tags=(
            "Antes de responder, piensa el problema paso a paso dentro de etiquetas "
            "<thinking></thinking>. Después escribe tu respuesta final dentro de etiquetas "
            "<answer></answer>."
        ),
        answer_in_tags="Escribe tu respuesta final dentro de etiquetas <answer></answer>.",
        begin_with=(
            "Empieza tu respuesta directamente dentro de las etiquetas {opening}, sin nada antes."
        ),
        identity="Identidad",
        instructions="Instrucciones",
        rules="Reglas",
        output_format="Formato de salida",
        input="Entrada",
        role="Rol",
        task="Tarea",
        steps="Pasos",
        inputs="Entradas",
        reason_then_final_line=(
            "Razona primero paso a paso y da la respuesta final al final, después de una "
            "línea que diga 'Respuesta final:'."
        ),
        reason_then_answer="Explica tu razonamiento paso a paso y luego indica la respuesta final.",
        think_before_answering="Piensa el problema paso a paso antes de dar tu respuesta final.",
        input_label="Entrada — {description}:",
        edge_cases_intro="Cuando la entrada es inusual:",
        tone="Tono",
        fields_intro="La respuesta tiene exactamente estos campos:",
        examples_intro=(
            "Aquí tienes ejemplos de una entrada y la respuesta ideal. "
            "Muestran la forma y la calidad esperadas; no copies su contenido."
        ),
        examples="Ejemplos",
        direct_answer="Da la respuesta directamente, sin explicaciones ni razonamientos antes.",
        choose_answer=(
            "Di en una frase breve qué elemento encaja y por qué; luego da la letra de la opción "
            "elegida entre paréntesis, tal como la escribe la entrada."
        ),
        options_answer=(
            "Si la entrada enumera opciones, responde con la opción elegida tal como la escribe la"
            " entrada (su letra entre paréntesis si las opciones llevan letras)."
        ),
    ),
    "ja": Headings(
        role_line="あなたは{role}です。",
        information="これから扱う情報は次のとおりです。",
        steps_intro="次の手順に従ってください：",
        rules_intro="次のルールを守ってください：",
        answer_format="回答の形式：",
        think_in_tags=(
            "回答する前に、<thinking></thinking>タグの中で問題を段階的に考えてください。"
            "その後、最終的な回答を<answer></answer>タグの中に書いてください。"
        ),
        answer_in_tags="最終的な回答を<answer></answer>タグの中に書いてください。",
        begin_with="回答は前置きなしで、すぐに{opening}タグの中から始めてください。",
        identity="役割",
        instructions="指示",
        rules="ルール",
        output_format="出力形式",
        input="入力",
        role="役割",
        task="タスク",
        steps="手順",
        inputs="入力",
        reason_then_final_line=(
            "まず段階的に推論し、最後に「最終回答:」という行の後に最終的な回答を書いてください。"
        ),
        reason_then_answer="推論を段階的に説明し、その後で最終的な回答を述べてください。",
        think_before_answering="最終的な回答を出す前に、問題を段階的に考えてください。",
        input_label="入力 — {description}：",
        edge_cases_intro="入力が通常と異なる場合：",
        tone="トーン",
        fields_intro="回答には次のフィールドだけを含めてください：",
        examples_intro="以下は入力と理想的な回答の例です。期待される形式と品質を示すもので、内容をそのまま写さないでください。",
        examples="例",
        direct_answer="説明や推論を前に書かず、答えだけを直接書いてください。",
        choose_answer=(
            "どの項目が当てはまるか、その理由を短い一文で述べ、続けて選んだ選択肢の文字を入力"
            "での書き方のとおりに括弧付きで書いてください。"
        ),
        options_answer=(
            "入力に選択肢が挙げられている場合は、選んだ選択肢を入力での書き方のとおりに答えて"
            "ください（選択肢に文字が付いている場合はその文字を括弧付きで）。"
        ),
        colon="：",
        full_stop="。",
        gap="",
    ),
}

TRANSLATED_LANGUAGES = frozenset(_TRANSLATED)


def headings_for(language: Language) -> Headings:
    """The frame in ``language`` where we have it, else the English one."""
    return _TRANSLATED.get(language.code, ENGLISH_HEADINGS)
