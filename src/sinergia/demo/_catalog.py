"""Fixed vocabularies of the demo company: segments, plans, prices, people, places and product features.

Everything here is a constant tuple, so the generator never depends on set or dict iteration order.
The demo vendor sells a B2B analytics/operations SaaS to Brazilian and international companies.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

# --- Segments and commercial structure -------------------------------------------------------------

SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
SEGMENT_SHARE = (0.62, 0.28, 0.10)
SMB, MID, ENT = 0, 1, 2

PLANS = ("Starter", "Growth", "Enterprise")
#: Share of each plan per segment (rows: segment, columns: plan).
PLAN_SHARE = ((0.68, 0.30, 0.02), (0.18, 0.67, 0.15), (0.0, 0.30, 0.70))
#: Share of annual contracts per segment.
ANNUAL_SHARE = (0.22, 0.55, 0.85)


class LogNormalRange(NamedTuple):
    """A log-normal draw with a median and a spread, clipped to [low, high]."""

    median: float
    sigma: float
    low: int
    high: int


SEATS = (
    LogNormalRange(8, 0.6, 2, 40),
    LogNormalRange(45, 0.5, 15, 200),
    LogNormalRange(250, 0.6, 100, 2000),
)
EMPLOYEES = (
    LogNormalRange(40, 0.7, 5, 250),
    LogNormalRange(500, 0.5, 200, 2000),
    LogNormalRange(5000, 0.8, 1500, 80000),
)
#: Inclusive range of contacts per account, per segment.
CONTACTS = ((2, 5), (4, 9), (8, 15))
MAX_CONTACTS = 15

CURRENCIES = ("BRL", "USD", "EUR")
#: Price per seat per month, in cents: [currency][plan] for monthly and for annual billing.
PRICE_MONTHLY = ((5900, 9900, 16900), (1500, 2500, 4200), (1400, 2300, 3900))
PRICE_ANNUAL = ((4900, 8400, 14400), (1250, 2100, 3500), (1150, 1950, 3250))

# --- Geography -----------------------------------------------------------------------------------


class Country(NamedTuple):
    """A country the vendor sells to."""

    code: str
    share: float
    currency: int  # index into CURRENCIES
    utc_offset: int  # hours; local = UTC + offset (no DST modelled)
    tld: str
    names: int  # index into NAME_POOLS
    english: bool  # contacts write in English
    regions: tuple[str, ...]
    region_share: tuple[float, ...]


COUNTRIES = (
    Country(
        "BR",
        0.80,
        0,
        -3,
        "com.br",
        0,
        False,
        ("SP", "RJ", "MG", "PR", "RS", "SC", "BA", "PE", "DF", "GO", "CE", "ES"),
        (0.40, 0.13, 0.10, 0.07, 0.07, 0.06, 0.04, 0.03, 0.03, 0.03, 0.02, 0.02),
    ),
    Country("US", 0.07, 1, -5, "com", 1, True, ("CA", "NY", "TX", "FL", "MA"), (0.3, 0.25, 0.2, 0.15, 0.1)),
    Country("PT", 0.05, 2, 0, "pt", 0, False, ("Lisboa", "Porto", "Braga"), (0.55, 0.35, 0.10)),
    Country("MX", 0.04, 1, -6, "com.mx", 2, True, ("CDMX", "Jalisco", "Nuevo León"), (0.5, 0.25, 0.25)),
    Country("AR", 0.02, 1, -3, "com.ar", 2, True, ("Buenos Aires", "Córdoba"), (0.8, 0.2)),
    Country("CO", 0.01, 1, -5, "com.co", 2, True, ("Bogotá", "Antioquia"), (0.7, 0.3)),
    Country("CL", 0.01, 1, -4, "cl", 2, True, ("Santiago", "Valparaíso"), (0.85, 0.15)),
)

# --- Firmographics -------------------------------------------------------------------------------

#: (industry, effect on the account's long-run health)
INDUSTRIES = (
    ("Retail", -0.10),
    ("Financial Services", 0.10),
    ("Healthcare", 0.05),
    ("Education", -0.05),
    ("Logistics", 0.0),
    ("Manufacturing", 0.05),
    ("Technology", 0.15),
    ("Telecom", -0.05),
    ("Agribusiness", 0.0),
    ("Professional Services", 0.05),
    ("Real Estate", -0.10),
    ("Food & Beverage", -0.05),
)
ACCOUNT_PERSONAS = ("founder_led", "ops_leader", "it_buyer", "cx_leader", "finance_buyer")

# --- Our team ------------------------------------------------------------------------------------


class Csm(NamedTuple):
    """A customer success manager; ``effect`` shifts the health of the accounts they own."""

    email: str
    segment: int
    effect: float


CSMS = (
    Csm("ana.ribeiro@example.com", ENT, 0.25),
    Csm("rafael.moura@example.com", ENT, 0.05),
    Csm("juliana.castro@example.com", MID, 0.15),
    Csm("bruno.teixeira@example.com", MID, 0.0),
    Csm("carla.mendes@example.com", MID, -0.20),
    Csm("thiago.azevedo@example.com", SMB, 0.10),
    Csm("fernanda.lima@example.com", SMB, 0.0),
    Csm("diego.barros@example.com", SMB, -0.25),
)

SUPPORT_TEAMS = ("Support L1", "Support L2", "Billing", "Onboarding")
AGENTS = (
    ("lucas.prado@example.com", "mariana.rocha@example.com", "gabriel.nunes@example.com",
     "beatriz.alves@example.com", "pedro.santana@example.com"),
    ("renata.farias@example.com", "felipe.cardoso@example.com", "camila.duarte@example.com",
     "vinicius.lopes@example.com"),
    ("patricia.gomes@example.com", "rodrigo.melo@example.com"),
    ("larissa.pires@example.com", "eduardo.reis@example.com"),
)  # fmt: skip

# --- People --------------------------------------------------------------------------------------

FIRST_NAMES_PT = (
    "Ana", "Bruno", "Camila", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
    "Karina", "Leonardo", "Mariana", "Nicolas", "Olívia", "Paulo", "Rafaela", "Rodrigo", "Sofia", "Tiago",
    "Vanessa", "Vitor", "Aline", "André", "Bianca", "Caio", "Débora", "Diego", "Elisa", "Fábio",
    "Fernanda", "Gustavo", "Helena", "Igor", "Jéssica", "Lucas", "Luana", "Marcelo", "Natália", "Otávio",
    "Patrícia", "Renato", "Sabrina", "Sérgio", "Tatiana", "Ulisses", "Valéria", "Wagner", "Yasmin", "Luiz",
)  # fmt: skip
LAST_NAMES_PT = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa",
    "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas",
    "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Araújo", "Pinto", "Correia", "Campos", "Monteiro",
)  # fmt: skip
FIRST_NAMES_EN = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Chris", "Karen",
    "Daniel", "Emily", "Matthew", "Ashley", "Andrew", "Megan", "Kevin", "Rachel", "Brian", "Laura",
)  # fmt: skip
LAST_NAMES_EN = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
    "Thomas", "Moore", "Jackson", "White", "Harris", "Martin", "Thompson", "Clark", "Lewis", "Walker",
)  # fmt: skip
FIRST_NAMES_ES = (
    "Alejandro", "Valentina", "Santiago", "Camila", "Mateo", "Lucía", "Sebastián", "Martina", "Diego", "Sofía",
    "Javier", "Daniela", "Andrés", "Gabriela", "Miguel", "Paula", "Carlos", "Fernanda", "Luis", "Andrea",
)  # fmt: skip
LAST_NAMES_ES = (
    "García", "Martínez", "López", "Hernández", "González", "Pérez", "Sánchez", "Ramírez", "Torres", "Flores",
    "Rivera", "Gómez", "Díaz", "Morales", "Vargas", "Castillo", "Romero", "Herrera", "Medina", "Aguilar",
)  # fmt: skip
NAME_POOLS = (
    (FIRST_NAMES_PT, LAST_NAMES_PT),
    (FIRST_NAMES_EN, LAST_NAMES_EN),
    (FIRST_NAMES_ES, LAST_NAMES_ES),
)

CONTACT_ROLES = ("decision_maker", "admin", "champion", "billing", "user")
DECISION_MAKER, ADMIN, CHAMPION, BILLING, USER = 0, 1, 2, 3, 4
#: Persona of each role.
ROLE_PERSONA = ("executive", "technical", "manager", "finance", "analyst")
#: How much each role uses the product (relative weight of its usage events).
ROLE_USAGE = (0.4, 3.0, 3.0, 0.3, 1.5)
#: Titles per role: (Portuguese, English) pairs.
ROLE_TITLES = (
    (("Diretor(a) de Operações", "COO"), ("CEO", "CEO"), ("Head de Customer Success", "Head of Customer Success"),
     ("Diretor(a) Comercial", "VP Sales")),
    (("Analista de Sistemas", "Systems Analyst"), ("Gerente de TI", "IT Manager"),
     ("Administrador(a) da Plataforma", "Platform Administrator")),
    (("Coordenador(a) de Operações", "Operations Lead"), ("Gerente de Atendimento", "Support Manager"),
     ("Especialista em Dados", "Data Specialist")),
    (("Analista Financeiro", "Accounts Payable Analyst"), ("Gerente Financeiro", "Finance Manager")),
    (("Analista", "Analyst"), ("Assistente Administrativo", "Administrative Assistant"),
     ("Especialista de Processos", "Process Specialist"), ("Supervisor(a)", "Supervisor"),
     ("Consultor(a) Interno", "Internal Consultant")),
)  # fmt: skip

# --- Account names (brand words; slugs must be unique and hyphen-free) -----------------------------

BRAND_FIRST = (
    "Aurora", "Bravo", "Cedro", "Delta", "Estrela", "Farol", "Granito", "Horizonte", "Ipê", "Jacarandá",
    "Jade", "Lumen", "Maré", "Nobre", "Onda", "Pampa", "Quartzo", "Rio", "Serra", "Tucano", "Urca",
    "Vértice", "Zênite", "Atlas", "Boreal", "Cobalto", "Dínamo", "Equinócio", "Fênix", "Gaia", "Hélice",
    "Índigo", "Jangada", "Kairós", "Lótus", "Mirante", "Nimbus", "Órbita", "Prisma", "Quasar", "Rubi",
    "Safira", "Titã", "Umbra", "Vega", "Alvorada", "Baobá", "Cajú", "Duna", "Esmeralda", "Flora",
    "Guará", "Harpia", "Ilha", "Jequitibá", "Lagoa", "Mata", "Nascente", "Oásis", "Palmeira", "Recife",
    "Sabiá", "Tapajós", "Uirapuru", "Vitória", "Xingu", "Zéfiro", "Arara", "Bromélia", "Canoa", "Dourado",
    "Eldorado", "Figueira", "Girassol", "Imbuia", "Juriti", "Lince", "Magnólia", "Netuno", "Orion", "Pérola",
    "Quaresma", "Rosa", "Sequoia", "Topázio", "Vulcano", "Acauã", "Buriti", "Carnaúba", "Diamante", "Estuário",
)  # fmt: skip
BRAND_SECOND = (
    "Azul", "Verde", "Sul", "Norte", "Leste", "Oeste", "Central", "Nova", "Prime", "Max", "Plus", "Alpha",
    "Beta", "Sigma", "Ômega", "Real", "Forte", "Viva", "Clara", "Nexus", "Vale", "Mar", "Sol", "Luz",
    "Terra", "Ar", "Fogo", "Pedra", "Ouro", "Prata", "Bronze", "Ferro", "Cristal", "Ponte", "Porto",
    "Trilha", "Rota", "Via", "Praça", "Torre", "Bosque", "Campo", "Ribeira", "Várzea", "Planalto",
    "Litoral", "Cerrado", "Caatinga", "Pantanal", "Serrana", "Baía", "Enseada", "Cascata", "Aurea",
    "Lux", "Vox", "Flux", "Core", "Link", "Hub", "Net", "Soft", "Data", "Logic", "Smart", "Wave", "Peak",
    "Edge", "Path", "Line", "Grid", "Mind", "Works", "Labs", "Point", "Base", "Bridge", "Stone", "Field", "Ridge",
)  # fmt: skip
BRAND_QUALIFIER = (
    "", "Digital", "Group", "Brasil", "Soluções", "Tech", "Partners", "Sistemas", "Serviços", "Global",
    "Consultoria", "Holding", "Capital", "Comercial", "Distribuidora", "Indústria",
)  # fmt: skip


def slug(word: str) -> str:
    """ASCII, lower-case form of a word for domains and e-mails (``'Jacarandá'`` → ``'jacaranda'``)."""
    folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


# --- Product -------------------------------------------------------------------------------------


class Feature(NamedTuple):
    """A product feature: how hard it is to adopt, how much it is used, the events it emits."""

    name: str
    difficulty: float
    weight: float
    min_plan: int  # index into PLANS
    events: tuple[tuple[str, float, float], ...]  # (event name, weight, median duration in seconds)


FEATURES = (
    Feature("core", -9.0, 3.0, 0, (("login", 1.0, 900.0),)),
    Feature("dashboards", -0.6, 2.0, 0, (("dashboard_viewed", 0.8, 120.0), ("dashboard_created", 0.2, 600.0))),
    Feature(
        "reports",
        -0.4,
        2.0,
        0,
        (("report_viewed", 0.7, 180.0), ("report_created", 0.2, 900.0), ("report_scheduled", 0.1, 120.0)),
    ),
    Feature("exports", 0.0, 1.0, 0, (("export_csv", 0.7, 20.0), ("export_pdf", 0.3, 25.0))),
    Feature("user_management", 0.2, 0.4, 0, (("user_invited", 0.7, 60.0), ("role_changed", 0.3, 45.0))),
    Feature("alerts", 0.5, 0.8, 0, (("alert_created", 0.3, 150.0), ("alert_triggered", 0.7, 1.0))),
    Feature("mobile_app", 0.6, 0.8, 0, (("mobile_session", 1.0, 240.0),)),
    Feature("integrations", 0.7, 1.0, 0, (("integration_connected", 0.15, 600.0), ("integration_synced", 0.85, 30.0))),
    Feature("automations", 1.1, 1.2, 1, (("automation_created", 0.15, 900.0), ("automation_run", 0.85, 5.0))),
    Feature("custom_fields", 1.3, 0.3, 1, (("custom_field_created", 1.0, 120.0),)),
    Feature("api", 1.5, 1.0, 1, (("api_call", 1.0, 2.0),)),
    Feature("ai_assistant", 1.6, 0.6, 1, (("ai_query", 1.0, 40.0),)),
    Feature("sso", 1.8, 0.5, 2, (("sso_login", 1.0, 5.0),)),
    Feature("audit_log", 2.0, 0.2, 2, (("audit_log_viewed", 1.0, 90.0),)),
)
MAX_EVENTS_PER_FEATURE = 3

#: Seasonality of usage per calendar month (January = index 0): Brazilian summer holidays, Carnival, year end.
SEASON = (0.82, 0.90, 1.0, 1.0, 1.02, 1.0, 0.95, 1.0, 1.03, 1.05, 1.02, 0.88)
#: Relative usage per local hour (0..23).
USAGE_HOURS = (
    0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.2, 0.6, 1.4, 2.2, 2.5, 2.4,
    1.5, 1.8, 2.4, 2.5, 2.3, 1.8, 1.0, 0.6, 0.45, 0.35, 0.2, 0.1,
)  # fmt: skip
#: Relative ticket creation per local hour: business hours 9-18, some spill-over.
TICKET_HOURS = (
    0.03, 0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 2.0, 2.6, 2.5,
    1.8, 2.0, 2.5, 2.6, 2.4, 2.0, 0.9, 0.3, 0.2, 0.15, 0.1, 0.05,
)  # fmt: skip
#: Brazilian fixed-date national holidays (month, day): usage and tickets drop like on weekends.
HOLIDAYS = ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20), (12, 25))
