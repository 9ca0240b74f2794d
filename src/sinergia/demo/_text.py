"""Texts of the demo: ticket subjects and descriptions, survey comments and review titles.

Comments are composed from three parts — an opener and a closer that carry the tone, and a body that carries
the topic of the touchpoint — so a few dozen templates per language and polarity give thousands of distinct
comments. The tone always matches the score the comment comes with, so text models trained on the demo
learn something true. Negative product comments about stability are used right after incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sinergia.demo._types import F64, I64

PT, EN = 0, 1
LANGUAGES = ("pt-BR", "en")
NEG, NEU, POS = 0, 1, 2

# Topic groups of survey comments; each touchpoint maps to one.
G_PRODUCT, G_SUPPORT, G_ONBOARDING, G_SALES, G_BILLING, G_RENEWAL = range(6)
#: Number of leading product/negative bodies that talk about stability (used after incidents).
STABILITY_BODIES = 2

_OPENERS: dict[tuple[int, int], tuple[str, ...]] = {
    (PT, NEG): (
        "Sinceramente, estou decepcionado.", "Esperava muito mais.", "A experiência tem sido frustrante.",
        "Não estou satisfeito.", "Infelizmente não dá para recomendar hoje.", "Está difícil continuar assim.",
        "Precisamos falar sério sobre isso.", "Que decepção.",
    ),
    (PT, NEU): (
        "No geral, ok.", "Atende o básico.", "Experiência razoável.", "Tem pontos bons e ruins.",
        "Nada de especial.", "Funciona, mas pode melhorar.", "Estamos avaliando.", "É uma ferramenta mediana.",
    ),
    (PT, POS): (
        "Excelente!", "Muito satisfeito.", "Recomendo de olhos fechados.", "Experiência ótima.",
        "Superou as expectativas.", "Parabéns ao time!", "Adoramos a plataforma.", "Só elogios.",
    ),
    (EN, NEG): (
        "Honestly, I'm disappointed.", "We expected much more.", "It has been a frustrating experience.",
        "Not happy at all.", "I can't recommend it right now.", "This is getting hard to justify.",
        "We need to talk about this.", "Very disappointing.",
    ),
    (EN, NEU): (
        "Overall, it's ok.", "It covers the basics.", "A reasonable experience.", "Some good, some bad.",
        "Nothing special.", "It works, but could be better.", "Still evaluating.", "An average tool.",
    ),
    (EN, POS): (
        "Excellent!", "Very happy.", "Highly recommended.", "Great experience.", "Exceeded our expectations.",
        "Kudos to the team!", "We love the platform.", "Nothing but praise.",
    ),
}  # fmt: skip

_CLOSERS: dict[tuple[int, int], tuple[str, ...]] = {
    (PT, NEG): (
        "Estamos avaliando outras opções.", "Se não melhorar, vamos cancelar.", "Espero um retorno urgente.",
        "Isso está impactando nossa operação.", "A diretoria já está questionando o contrato.",
        "Não é o que foi prometido na venda.",
    ),
    (PT, NEU): (
        "Vamos ver como evolui.", "Seria bom ter mais novidades.", "Podia ser mais simples.",
        "Aguardando as melhorias prometidas.", "Por enquanto seguimos.", "Falta um pouco de atenção aos detalhes.",
    ),
    (PT, POS): (
        "Continuem assim!", "Já indicamos para parceiros.", "Virou parte do nosso dia a dia.",
        "Vamos ampliar o uso para outras áreas.", "Valeu cada centavo.", "Obrigado pelo cuidado de sempre.",
    ),
    (EN, NEG): (
        "We are looking at alternatives.", "If this doesn't improve we will cancel.", "Please get back to us urgently.",
        "This is hurting our operations.", "Leadership is already questioning the contract.",
        "Not what we were promised during the sale.",
    ),
    (EN, NEU): (
        "Let's see how it evolves.", "More updates would be nice.", "Could be simpler.",
        "Waiting for the promised improvements.", "We'll carry on for now.", "Needs more attention to detail.",
    ),
    (EN, POS): (
        "Keep it up!", "We already referred it to partners.", "It's part of our daily routine now.",
        "We'll roll it out to more teams.", "Worth every penny.", "Thanks for the great care, as always.",
    ),
}  # fmt: skip

_BODIES: dict[tuple[int, int, int], tuple[str, ...]] = {
    (PT, NEG, G_PRODUCT): (
        "A plataforma ficou fora do ar várias vezes este mês.",
        "Instabilidade constante, perdemos dados de um dia inteiro.",
        "Os relatórios demoram demais para carregar.", "A integração com o ERP falha com frequência.",
        "O preço subiu e o valor entregue não acompanhou.", "A interface é confusa e a equipe não consegue usar.",
    ),
    (PT, NEU, G_PRODUCT): (
        "Os dashboards são bons, mas faltam filtros.", "Usamos só uma parte das funcionalidades.",
        "O app mobile ainda é limitado.", "As automações ajudam, mas a configuração é trabalhosa.",
    ),
    (PT, POS, G_PRODUCT): (
        "Os dashboards mudaram a forma como acompanhamos a operação.", "As automações economizam horas por semana.",
        "A integração com nosso ERP funcionou de primeira.", "Os relatórios são rápidos e fáceis de montar.",
    ),
    (PT, NEG, G_SUPPORT): (
        "Demoraram dias para responder meu chamado.", "Tive que explicar o problema três vezes.",
        "O chamado foi fechado sem solução.", "O problema voltou logo depois de resolvido.",
    ),
    (PT, NEU, G_SUPPORT): (
        "O atendimento resolveu, mas demorou um pouco.", "A resposta veio, mas foi bem genérica.",
        "Precisei insistir, mas no fim deu certo.", "O atendente foi educado, a solução foi parcial.",
    ),
    (PT, POS, G_SUPPORT): (
        "O suporte respondeu em minutos e resolveu tudo.", "Atendimento atencioso e muito técnico.",
        "Resolveram meu problema na primeira interação.", "O atendente explicou tudo com paciência.",
    ),
    (PT, NEG, G_ONBOARDING): (
        "A implantação atrasou semanas.", "O treinamento foi superficial.",
        "Ninguém nos acompanhou na configuração inicial.", "A migração dos dados deu muito trabalho.",
    ),
    (PT, NEU, G_ONBOARDING): (
        "A implantação seguiu o cronograma, com alguns tropeços.", "O treinamento cobriu o básico.",
        "A configuração inicial exigiu bastante do nosso time.", "O kickoff foi bom, o resto nem tanto.",
    ),
    (PT, POS, G_ONBOARDING): (
        "A implantação foi rápida e bem organizada.", "O treinamento deixou a equipe pronta em poucos dias.",
        "O time de onboarding foi impecável.", "Em duas semanas já estávamos usando tudo.",
    ),
    (PT, NEG, G_SALES): (
        "A demonstração não mostrou o que pedimos.", "O site não explica os preços.",
        "O vendedor demorou para responder.", "A proposta veio cheia de erros.",
    ),
    (PT, NEU, G_SALES): (
        "A demonstração foi ok, um pouco longa.", "O site tem informação, mas é difícil achar.",
        "A proposta foi clara, o prazo nem tanto.", "A apresentação foi genérica.",
    ),
    (PT, POS, G_SALES): (
        "A demonstração foi objetiva e mostrou nosso caso real.", "O site deixou tudo muito claro.",
        "O time comercial entendeu nossa necessidade.", "A proposta veio rápida e bem detalhada.",
    ),
    (PT, NEG, G_BILLING): (
        "A fatura veio com valor errado.", "Cobraram licenças que não usamos.",
        "Difícil conseguir a segunda via do boleto.", "O reajuste não foi comunicado.",
    ),
    (PT, NEU, G_BILLING): (
        "A cobrança está correta, mas o portal é confuso.", "Demorou um pouco para corrigir a nota fiscal.",
        "O processo de pagamento é burocrático.", "As faturas chegam, mas sem detalhamento.",
    ),
    (PT, POS, G_BILLING): (
        "A cobrança é transparente e sem surpresas.", "Corrigiram a nota fiscal no mesmo dia.",
        "O portal financeiro é muito prático.", "Pagamento simples e faturas bem detalhadas.",
    ),
    (PT, NEG, G_RENEWAL): (
        "A renovação veio com um aumento abusivo.", "Ninguém nos procurou antes do vencimento.",
        "A negociação da renovação foi desgastante.", "Não vimos o retorno que justifique renovar.",
    ),
    (PT, NEU, G_RENEWAL): (
        "A renovação foi tranquila, o reajuste nem tanto.", "Renovamos, mas queremos ver mais valor.",
        "A reunião de renovação foi protocolar.", "O processo foi correto, sem novidades.",
    ),
    (PT, POS, G_RENEWAL): (
        "Renovamos sem pensar duas vezes.", "A reunião de renovação mostrou resultados claros.",
        "Condições justas e ótimo acompanhamento.", "O CSM apresentou um plano excelente para o próximo ano.",
    ),
    (EN, NEG, G_PRODUCT): (
        "The platform went down several times this month.", "Constant instability, we lost a whole day of data.",
        "Reports take forever to load.", "The ERP integration keeps failing.",
        "The price went up and the value did not.", "The interface is confusing and the team can't use it.",
    ),
    (EN, NEU, G_PRODUCT): (
        "Dashboards are good but lack filters.", "We only use part of the features.",
        "The mobile app is still limited.", "Automations help, but setting them up is tedious.",
    ),
    (EN, POS, G_PRODUCT): (
        "Dashboards changed how we run our operation.", "Automations save us hours every week.",
        "The ERP integration worked on the first try.", "Reports are fast and easy to build.",
    ),
    (EN, NEG, G_SUPPORT): (
        "It took days to get a reply to my ticket.", "I had to explain the problem three times.",
        "The ticket was closed without a fix.", "The issue came back right after it was solved.",
    ),
    (EN, NEU, G_SUPPORT): (
        "Support solved it, but it took a while.", "The answer came but was quite generic.",
        "I had to insist, but it worked out in the end.", "The agent was polite, the fix was partial.",
    ),
    (EN, POS, G_SUPPORT): (
        "Support answered in minutes and fixed everything.", "Attentive and very technical support.",
        "They solved my problem on the first contact.", "The agent explained everything patiently.",
    ),
    (EN, NEG, G_ONBOARDING): (
        "The implementation was weeks late.", "The training was superficial.",
        "Nobody helped us with the initial setup.", "The data migration was painful.",
    ),
    (EN, NEU, G_ONBOARDING): (
        "The rollout followed the plan, with some hiccups.", "The training covered the basics.",
        "The initial setup took a lot from our team.", "The kickoff was good, the rest less so.",
    ),
    (EN, POS, G_ONBOARDING): (
        "The rollout was fast and well organised.", "Training had the team ready within days.",
        "The onboarding team was flawless.", "Within two weeks we were using everything.",
    ),
    (EN, NEG, G_SALES): (
        "The demo didn't show what we asked for.", "The website doesn't explain pricing.",
        "The sales rep was slow to respond.", "The proposal was full of mistakes.",
    ),
    (EN, NEU, G_SALES): (
        "The demo was ok, a bit long.", "The website has the information but it is hard to find.",
        "The proposal was clear, the timeline less so.", "The presentation was generic.",
    ),
    (EN, POS, G_SALES): (
        "The demo was focused and showed our real use case.", "The website made everything clear.",
        "The sales team understood our needs.", "The proposal came quickly and in detail.",
    ),
    (EN, NEG, G_BILLING): (
        "The invoice had the wrong amount.", "We were charged for seats we don't use.",
        "Hard to get a copy of the invoice.", "The price increase was not communicated.",
    ),
    (EN, NEU, G_BILLING): (
        "Billing is correct but the portal is confusing.", "It took a while to fix the invoice.",
        "The payment process is bureaucratic.", "Invoices arrive but without detail.",
    ),
    (EN, POS, G_BILLING): (
        "Billing is transparent, no surprises.", "They fixed the invoice the same day.",
        "The billing portal is very practical.", "Simple payment and detailed invoices.",
    ),
    (EN, NEG, G_RENEWAL): (
        "The renewal came with an outrageous increase.", "Nobody reached out before the contract expired.",
        "The renewal negotiation was exhausting.", "We don't see the return that would justify renewing.",
    ),
    (EN, NEU, G_RENEWAL): (
        "The renewal was smooth, the price increase less so.", "We renewed, but we want to see more value.",
        "The renewal meeting was a formality.", "The process was fine, nothing new.",
    ),
    (EN, POS, G_RENEWAL): (
        "We renewed without a second thought.", "The renewal meeting showed clear results.",
        "Fair terms and great follow-up.", "Our CSM presented an excellent plan for next year.",
    ),
}  # fmt: skip

_TITLES: dict[tuple[int, int], tuple[str, ...]] = {
    (PT, NEG): ("Decepcionante", "Não recomendo", "Muitos problemas", "Suporte lento", "Caro para o que entrega"),
    (PT, NEU): ("Cumpre o básico", "Razoável", "Bom, mas pode melhorar", "Nada demais"),
    (PT, POS): ("Excelente ferramenta", "Recomendo muito", "Mudou nossa operação", "Ótimo custo-benefício"),
    (EN, NEG): ("Disappointing", "Would not recommend", "Too many issues", "Slow support", "Overpriced"),
    (EN, NEU): ("Does the job", "Decent", "Good but could improve", "Nothing special"),
    (EN, POS): ("Excellent tool", "Highly recommended", "Changed how we work", "Great value for money"),
}  # fmt: skip


class TicketTopic(NamedTuple):
    """A reason customers open tickets, with its subjects and first messages in both languages."""

    name: str
    team: int  # index into SUPPORT_TEAMS
    subjects: tuple[tuple[str, str, str], tuple[str, str, str]]  # [language][variant]
    descriptions: tuple[tuple[str, str], tuple[str, str]]  # [language][variant]


TOPICS = (
    TicketTopic(
        "how_to", 0,
        (("Dúvida sobre filtros do dashboard", "Como agendar um relatório?", "Como compartilhar um painel"),
         ("Question about dashboard filters", "How do I schedule a report?", "How to share a dashboard")),
        (("Olá, gostaria de entender como configurar isso na plataforma. Podem ajudar?",
          "Bom dia! Não encontrei na documentação como fazer isso. Obrigado."),
         ("Hi, I'd like to understand how to set this up in the platform. Can you help?",
          "Hello! I couldn't find how to do this in the docs. Thanks.")),
    ),
    TicketTopic(
        "access", 0,
        (("Não consigo acessar minha conta", "Erro ao redefinir senha", "Usuário bloqueado"),
         ("Can't log in to my account", "Password reset fails", "User locked out")),
        (("Ao tentar entrar aparece 'credenciais inválidas', mesmo com a senha correta.",
          "O e-mail de redefinição de senha não chega. Preciso de acesso urgente."),
         ("When I try to log in it says 'invalid credentials' even with the right password.",
          "The password reset e-mail never arrives. I need access urgently.")),
    ),
    TicketTopic(
        "reports", 0,
        (("Relatório com números divergentes", "Relatório não carrega", "Erro ao exportar relatório"),
         ("Report shows inconsistent numbers", "Report does not load", "Error exporting report")),
        (("Os totais do relatório não batem com o nosso sistema. Podem verificar?",
          "O relatório fica carregando e não abre. Já tentei em outro navegador."),
         ("The report totals don't match our system. Could you check?",
          "The report keeps spinning and never opens. I tried another browser.")),
    ),
    TicketTopic(
        "integration", 1,
        (("Integração com ERP parou", "Falha na sincronização", "Webhook não dispara"),
         ("ERP integration stopped", "Sync failure", "Webhook not firing")),
        (("Desde ontem a integração não sincroniza os pedidos. Aparece erro 500 no log.",
          "A sincronização falha toda noite e os dados ficam desatualizados."),
         ("Since yesterday the integration doesn't sync orders. The log shows error 500.",
          "The sync fails every night and our data is stale.")),
    ),
    TicketTopic(
        "performance", 1,
        (("Plataforma muito lenta", "Lentidão nos dashboards", "Tempo de resposta alto"),
         ("Platform is very slow", "Dashboards are sluggish", "High response times")),
        (("Tudo está muito lento hoje, a equipe não consegue trabalhar.",
          "Os painéis levam mais de um minuto para abrir desde a última atualização."),
         ("Everything is very slow today, the team can't work.",
          "Dashboards take over a minute to open since the last update.")),
    ),
    TicketTopic(
        "outage", 1,
        (("URGENTE: plataforma fora do ar", "Sistema indisponível", "Erro 503 para todos os usuários"),
         ("URGENT: platform down", "System unavailable", "Error 503 for all users")),
        (("Ninguém da empresa consegue acessar. Nossa operação está parada!",
          "A plataforma está indisponível há mais de uma hora. Precisamos de posição imediata."),
         ("Nobody in the company can access it. Our operation is stopped!",
          "The platform has been unavailable for over an hour. We need an update now.")),
    ),
    TicketTopic(
        "automation", 1,
        (("Automação não executou", "Regra de automação com erro", "Fluxo automático duplicando registros"),
         ("Automation did not run", "Automation rule failing", "Workflow duplicating records")),
        (("A automação que roda toda manhã não executou hoje e não houve alerta.",
          "O fluxo está criando registros duplicados desde a semana passada."),
         ("The automation that runs every morning didn't run today and no alert fired.",
          "The workflow has been creating duplicate records since last week.")),
    ),
    TicketTopic(
        "api", 1,
        (("Erro 429 na API", "Dúvida sobre autenticação da API", "Endpoint retornando erro"),
         ("API returning 429", "Question about API authentication", "Endpoint returns an error")),
        (("Nossas chamadas à API estão sendo limitadas. Qual é o limite do nosso plano?",
          "O endpoint de exportação retorna erro intermitente. Segue o id da requisição."),
         ("Our API calls are being rate limited. What is our plan's limit?",
          "The export endpoint fails intermittently. Request id attached.")),
    ),
    TicketTopic(
        "billing", 2,
        (("Segunda via da fatura", "Cobrança em duplicidade", "Alterar dados de faturamento"),
         ("Copy of the invoice", "Duplicate charge", "Update billing details")),
        (("Precisamos da segunda via da fatura deste mês com o CNPJ correto.",
          "Fomos cobrados duas vezes neste mês. Podem estornar?"),
         ("We need a copy of this month's invoice with the right tax id.",
          "We were charged twice this month. Can you refund?")),
    ),
    TicketTopic(
        "users", 0,
        (("Adicionar novos usuários", "Remover acesso de ex-colaborador", "Alterar perfil de permissão"),
         ("Add new users", "Remove access of a former employee", "Change permission profile")),
        (("Precisamos liberar acesso para três novos analistas do time.",
          "Por favor, removam o acesso de um colaborador que saiu da empresa."),
         ("We need access for three new analysts on the team.",
          "Please remove access for an employee who left the company.")),
    ),
    TicketTopic(
        "onboarding", 3,
        (("Configuração inicial da conta", "Importação de dados históricos", "Agendar treinamento"),
         ("Initial account setup", "Importing historical data", "Schedule a training")),
        (("Estamos começando agora e precisamos de ajuda para configurar a conta.",
          "Como importamos os dados dos últimos dois anos? O arquivo é grande."),
         ("We're just starting and need help setting up the account.",
          "How do we import the last two years of data? The file is large.")),
    ),
    TicketTopic(
        "cancellation", 2,
        (("Solicitação de cancelamento", "Cancelar contrato", "Encerramento da conta"),
         ("Cancellation request", "Cancel our contract", "Close our account")),
        (("Gostaríamos de solicitar o cancelamento do contrato. Qual é o procedimento?",
          "Decidimos não seguir com a plataforma. Por favor, confirmem o cancelamento."),
         ("We would like to cancel our contract. What is the procedure?",
          "We decided not to continue with the platform. Please confirm the cancellation.")),
    ),
)  # fmt: skip
T_HOW_TO, T_ACCESS, T_REPORTS, T_INTEGRATION, T_PERFORMANCE, T_OUTAGE = 0, 1, 2, 3, 4, 5
T_AUTOMATION, T_API, T_BILLING, T_USERS, T_ONBOARDING, T_CANCELLATION = 6, 7, 8, 9, 10, 11
SUBJECT_VARIANTS = 3
DESCRIPTION_VARIANTS = 2

_SUBJECTS = pa.array([s for t in TOPICS for lang in t.subjects for s in lang], pa.string())
_DESCRIPTIONS = pa.array([s for t in TOPICS for lang in t.descriptions for s in lang], pa.string())


class _Bank:
    """Flattened template lists with offset/count lookups, for vectorised picking."""

    def __init__(self, groups: Mapping[Any, tuple[str, ...]], shape: tuple[int, ...]) -> None:
        texts: list[str] = []
        self.offset: I64 = np.zeros(shape, np.int64)
        self.count: I64 = np.zeros(shape, np.int64)
        for key in sorted(groups):
            self.offset[key] = len(texts)
            self.count[key] = len(groups[key])
            texts.extend(groups[key])
        self.texts = pa.array(texts, pa.string())

    def pick(self, key: tuple[I64, ...], u: F64, skip: I64 | None = None) -> I64:
        """Index into ``texts`` for each row: group ``key``, uniform ``u``, skipping ``skip`` leading items."""
        first = self.offset[key] + (0 if skip is None else skip)
        count = self.count[key] - (0 if skip is None else skip)
        return np.asarray(first + np.minimum((u * count).astype(np.int64), count - 1), np.int64)


_OPENER_BANK = _Bank(_OPENERS, (2, 3))
_CLOSER_BANK = _Bank(_CLOSERS, (2, 3))
_BODY_BANK = _Bank(_BODIES, (2, 3, 6))
_TITLE_BANK = _Bank(_TITLES, (2, 3))


def template_counts() -> dict[str, int]:
    """Number of comment templates per kind (for docs and tests)."""
    return {
        "openers": len(_OPENER_BANK.texts),
        "bodies": len(_BODY_BANK.texts),
        "closers": len(_CLOSER_BANK.texts),
        "titles": len(_TITLE_BANK.texts),
    }


def compose(lang: I64, polarity: I64, group: I64, u: F64, *, stability: np.ndarray | None = None) -> pa.Array:
    """Comments for each row, composed from an opener, a body and sometimes a closer.

    ``u`` is an (n, 4) array of uniforms: opener, body, closer choice, closer presence.
    ``stability`` marks rows whose negative product comment should talk about stability (recent incident).
    """
    opener = _OPENER_BANK.pick((lang, polarity), u[:, 0])
    is_product_neg = (group == G_PRODUCT) & (polarity == NEG)
    skip = np.where(is_product_neg, STABILITY_BODIES, 0).astype(np.int64)
    if stability is not None:
        themed = is_product_neg & stability
        body = _BODY_BANK.pick((lang, polarity, group), u[:, 1], skip)
        body_themed = _BODY_BANK.offset[(lang, polarity, group)] + (u[:, 1] * STABILITY_BODIES).astype(np.int64)
        body = np.where(themed, body_themed, body)
    else:
        body = _BODY_BANK.pick((lang, polarity, group), u[:, 1], skip)
    closer = _CLOSER_BANK.pick((lang, polarity), u[:, 2])
    closer_arr = pc.take(_CLOSER_BANK.texts, pa.array(closer, mask=u[:, 3] < 0.45))
    return pc.binary_join_element_wise(
        pc.take(_OPENER_BANK.texts, pa.array(opener)),
        pc.take(_BODY_BANK.texts, pa.array(body)),
        closer_arr,
        " ",
        null_handling="skip",
    )


def titles(lang: I64, polarity: I64, u: F64) -> pa.Array:
    """A review title for each row."""
    return pc.take(_TITLE_BANK.texts, pa.array(_TITLE_BANK.pick((lang, polarity), u)))


def ticket_subjects(topic: I64, lang: I64, u: F64) -> pa.Array:
    """Subject of each ticket from its topic and language."""
    variant = np.minimum((u * SUBJECT_VARIANTS).astype(np.int64), SUBJECT_VARIANTS - 1)
    return pc.take(_SUBJECTS, pa.array((topic * 2 + lang) * SUBJECT_VARIANTS + variant))


def ticket_descriptions(topic: I64, lang: I64, u: F64) -> pa.Array:
    """First message of each ticket from its topic and language."""
    variant = np.minimum((u * DESCRIPTION_VARIANTS).astype(np.int64), DESCRIPTION_VARIANTS - 1)
    return pc.take(_DESCRIPTIONS, pa.array((topic * 2 + lang) * DESCRIPTION_VARIANTS + variant))
