"""PII redaction: CPF, CNPJ, e-mail and phones found and replaced; look-alikes left alone.

Check digits computed by hand (sinergia.text.redact docstrings give the rule):
CPF 529.982.247-25: first digit 5*10+2*9+9*8+9*7+8*6+2*5+2*4+4*3+7*2 = 295; 295*10 % 11 = 2 -> 2.
Second: 5*11+2*10+9*9+9*8+8*7+2*6+2*5+4*4+7*3+2*2 = 347; 347*10 % 11 = 5 -> 5.  So 52998224725 is valid.
CNPJ 11.222.333/0001-81: 1*5+1*4+2*3+2*2+2*9+3*8+3*7+3*6+0+0+0+1*2 = 102; 102 % 11 = 3 -> 11-3 = 8.
Second: 1*6+1*5+2*4+2*3+2*2+3*9+3*8+3*7+0+0+0+1*3+8*2 = 120; 120 % 11 = 10 -> 11-10 = 1.  So 11222333000181.
"""

from __future__ import annotations

import pytest

from sinergia.text.redact import cnpj_is_valid, cpf_is_valid, find_pii, redact, redact_text


def test_check_digits() -> None:
    assert cpf_is_valid("52998224725")
    assert not cpf_is_valid("52998224726")  # last digit off by one
    assert not cpf_is_valid("11111111111")  # passes the arithmetic, but all digits equal is not a CPF
    # 1..9: first check 1*10+2*9+...+9*2 = 210, 2100 % 11 = 10 -> 0 (matches the 10th digit 0);
    # second 1*11+2*10+...+9*3+0*2 = 255, 2550 % 11 = 9 -> 9, but the 11th digit is 1.
    assert not cpf_is_valid("12345678901")
    assert cnpj_is_valid("11222333000181")
    assert not cnpj_is_valid("11222333000182")
    assert not cnpj_is_valid("00000000000000")


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ("Meu CPF é 529.982.247-25, obrigado", "Meu CPF é [CPF], obrigado", ["cpf"]),
        ("cpf 52998224725", "cpf [CPF]", ["cpf"]),
        # punctuated layout is redacted even with wrong check digits (a mistyped CPF is still personal data)
        ("CPF: 123.456.789-00", "CPF: [CPF]", ["cpf"]),
        ("CNPJ 11.222.333/0001-81 e 11222333000181", "CNPJ [CNPJ] e [CNPJ]", ["cnpj", "cnpj"]),
        ("escreva para joao.silva+loja@empresa.com.br hoje", "escreva para [EMAIL] hoje", ["email"]),
        ("Ligue +55 (11) 91234-5678", "Ligue [PHONE]", ["phone"]),
        ("whats 11 91234-5678.", "whats [PHONE].", ["phone"]),
        ("fixo (21) 3456-7890", "fixo [PHONE]", ["phone"]),
        ("cel 11912345678", "cel [PHONE]", ["phone"]),
        ("cel 91234-5678", "cel [PHONE]", ["phone"]),
        ("+5511912345678", "[PHONE]", ["phone"]),
        ("call +1 415 555 2671 or +44 20 7946 0958", "call [PHONE] or [PHONE]", ["phone", "phone"]),
    ],
)
def test_redacts(text: str, expected: str, kinds: list[str]) -> None:
    result = redact(text)
    assert result.text == expected
    assert [s.kind for s in result.spans] == kinds
    for span in result.spans:  # spans point into the original text
        assert text[span.start:span.end] == span.value


@pytest.mark.parametrize(
    "text",
    [
        "pedido 12345678901 não chegou",  # 11 digits, invalid CPF check digits: an order number
        "nota fiscal 12345678000100",  # 14 digits, invalid CNPJ check digits
        "comprei em 2018-01-01, entrega 2018-01-15",  # dates
        "CEP 01310-100, São Paulo",  # postcode
        "atendimento 2018-2019 foi bom",  # year range
        "paguei R$ 1.234,56 e R$ 99,90",  # prices
        "rastreio BR123456789BR e pedido 583174fbe37d3d5f",  # tracking code, hex id
        "versão 1.2.3, nota 10/10, 5 estrelas",  # versions and scores
        "valor 1234-5678",  # 4-4 digits without area code is not a mobile number
        "email não informado @ loja",  # no address
        "+12",  # too short for E.164
    ],
)
def test_leaves_look_alikes_alone(text: str) -> None:
    assert find_pii(text) == []
    assert redact_text(text) == text


def test_overlaps_and_kinds_filter() -> None:
    text = "cpf 529.982.247-25 tel (11) 91234-5678 mail a@b.co"
    assert redact(text).counts() == {"cpf": 1, "phone": 1, "email": 1}
    assert redact(text, frozenset({"email"})).text == "cpf 529.982.247-25 tel (11) 91234-5678 mail [EMAIL]"
    assert redact("").text == ""
