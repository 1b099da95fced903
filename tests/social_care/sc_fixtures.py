"""Hand-written synthetic CIN census and SSDA903 inputs for the social care tests."""

from __future__ import annotations

from mashlink.connectors.social_care.synthetic import synthetic_nhs_number, synthetic_upn

UPN_OK = synthetic_upn("999", 42)
UPN_BAD = UPN_OK[:-1] + ("0" if UPN_OK[-1] != "0" else "1")
NHS_OK = synthetic_nhs_number(7)


def cin_file(children: str, lea: str = "999") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Message><Header><CollectionDetails><Collection>CIN</Collection>'
        "<Year>2024</Year><ReferenceDate>2024-03-31</ReferenceDate></CollectionDetails>"
        f"<Source><SourceLevel>L</SourceLevel><LEA>{lea}</LEA><SoftwareCode>Synthetic CMS</SoftwareCode></Source>"
        f"</Header><Children>\n{children}\n</Children></Message>\n"
    )


BORN_CHILD = f"""<Child>
  <ChildIdentifiers><LAchildID>LA0001</LAchildID><UPN>{UPN_OK}</UPN>
    <PersonBirthDate>2015-06-01</PersonBirthDate><GenderCurrent>2</GenderCurrent>
    <NHSNumber>{NHS_OK}</NHSNumber><Forename>Ava</Forename><Surname>Testerson</Surname><PostCode>ls1 1aa</PostCode></ChildIdentifiers>
  <ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
  <CINdetails>
    <CINreferralDate>2023-05-02</CINreferralDate><ReferralSource>6</ReferralSource>
    <PrimaryNeedCode>N1</PrimaryNeedCode><CINclosureDate>2024-01-10</CINclosureDate>
    <ReasonForClosure>RC8</ReasonForClosure>
    <Assessments><AssessmentActualStartDate>2023-05-03</AssessmentActualStartDate>
      <AssessmentAuthorisationDate>2023-06-01</AssessmentAuthorisationDate>
      <FactorsIdentifiedAtAssessment><AssessmentFactors>3A</AssessmentFactors>
        <AssessmentFactors>10A</AssessmentFactors><AssessmentFactors>24A</AssessmentFactors>
      </FactorsIdentifiedAtAssessment></Assessments>
    <Section47><S47ActualStartDate>2023-05-05</S47ActualStartDate><InitialCPCtarget>2023-05-20</InitialCPCtarget>
      <DateOfInitialCPC>2023-05-18</DateOfInitialCPC><ICPCnotRequired>false</ICPCnotRequired></Section47>
    <ReferralNFA>0</ReferralNFA>
    <ChildProtectionPlans><CPPstartDate>2023-05-18</CPPstartDate><CPPendDate>2023-12-01</CPPendDate>
      <InitialCategoryOfAbuse>EMO</InitialCategoryOfAbuse><LatestCategoryOfAbuse>NEG</LatestCategoryOfAbuse>
      <NumberOfPreviousCPP>1</NumberOfPreviousCPP>
      <Reviews><CPPreviewDate>2023-08-18</CPPreviewDate><CPPreviewDate>2023-11-18</CPPreviewDate></Reviews>
    </ChildProtectionPlans>
  </CINdetails>
</Child>"""

UNBORN_CHILD = """<Child>
  <ChildIdentifiers><LAchildID>LA0002</LAchildID><UPNunknown>UN1</UPNunknown>
    <ExpectedPersonBirthDate>2099-02-01</ExpectedPersonBirthDate><GenderCurrent>0</GenderCurrent></ChildIdentifiers>
  <ChildCharacteristics><Ethnicity>NOBT</Ethnicity></ChildCharacteristics>
  <CINdetails><CINreferralDate>2024-01-05</CINreferralDate><ReferralSource>3F</ReferralSource>
    <PrimaryNeedCode>N1</PrimaryNeedCode><ReferralNFA>false</ReferralNFA></CINdetails>
</Child>"""

# Stray text, shouted and numeric booleans, a UPN failing its check letter, a
# date with text in it, an unknown referral source: kept and flagged.
MESSY_CHILD = f"""<Child>
  <ChildIdentifiers>exported by v2.1<LAchildID>LA0003</LAchildID><UPN>{UPN_BAD}</UPN>
    <PersonBirthDate>2012-02-29</PersonBirthDate><Sex>1</Sex></ChildIdentifiers>
  <ChildCharacteristics><Ethnicity>wbri</Ethnicity></ChildCharacteristics>
  <CINdetails><CINreferralDate>2023-09-01 (approx)</CINreferralDate><ReferralSource>ZZ</ReferralSource>
    <Section47><S47ActualStartDate>2023-09-03</S47ActualStartDate><ICPCnotRequired>TRUE</ICPCnotRequired></Section47>
    <ReferralNFA>FALSE</ReferralNFA>
    <ChildProtectionPlans><CPPstartDate>2023-09-20</CPPstartDate><InitialCategoryOfAbuse>PHY</InitialCategoryOfAbuse>
      <LatestCategoryOfAbuse>PHY</LatestCategoryOfAbuse><NumberOfPreviousCPP>0</NumberOfPreviousCPP>
    </ChildProtectionPlans>
  </CINdetails>
</Child>"""

# A plan that ends before it starts: the canonical model refuses the record.
#: Cannot be represented at all: an unborn child (no date of birth) whose only expected date is
#: not a date, so the canonical model has no date to place the child by. Rejected whole.
BAD_CHILD = """<Child>
  <ChildIdentifiers><LAchildID>LA0004</LAchildID><ExpectedPersonBirthDate>soon</ExpectedPersonBirthDate>
    <GenderCurrent>1</GenderCurrent><Forename>Secretname</Forename></ChildIdentifiers>
  <ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
  <CINdetails><CINreferralDate>2023-01-01</CINreferralDate><ReferralSource>2A</ReferralSource>
    <ReferralNFA>false</ReferralNFA></CINdetails>
</Child>"""

#: Inconsistent native data, as real returns contain it: the CIN episode closes before its referral
#: and the plan ends before it starts. Kept, with data-quality issues naming the fields.
INCONSISTENT_CHILD = """<Child>
  <ChildIdentifiers><LAchildID>LA0005</LAchildID><PersonBirthDate>2014-01-01</PersonBirthDate>
    <GenderCurrent>1</GenderCurrent><Forename>Leo</Forename><Surname>Inglis</Surname></ChildIdentifiers>
  <ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
  <CINdetails><CINreferralDate>2023-03-01</CINreferralDate><ReferralSource>2A</ReferralSource>
    <PrimaryNeedCode>N1</PrimaryNeedCode><CINclosureDate>2023-02-01</CINclosureDate>
    <ReasonForClosure>RC8</ReasonForClosure><ReferralNFA>false</ReferralNFA>
    <ChildProtectionPlans><CPPstartDate>2023-05-01</CPPstartDate><CPPendDate>2023-02-01</CPPendDate>
      <InitialCategoryOfAbuse>SAB</InitialCategoryOfAbuse><LatestCategoryOfAbuse>SAB</LatestCategoryOfAbuse>
      <NumberOfPreviousCPP>0</NumberOfPreviousCPP></ChildProtectionPlans>
  </CINdetails>
</Child>"""

NO_LA_ID_CHILD = f"""<Child>
  <ChildIdentifiers><UPN>{UPN_OK}</UPN><PersonBirthDate>2014-01-01</PersonBirthDate>
    <GenderCurrent>1</GenderCurrent></ChildIdentifiers>
  <ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
  <CINdetails><CINreferralDate>2023-01-01</CINreferralDate><ReferralSource>2A</ReferralSource>
    <ReferralNFA>false</ReferralNFA></CINdetails>
</Child>"""

SSDA903_HEADER = f"""CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB
LA0001,2,01/06/2015,WBRI,{UPN_OK},,
LA0010,1,14/09/09,BAFR,,,
"""

SSDA903_EPISODES = """CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN
LA0001,15/08/2023,P,C2,N1,K2,PR3,,,CARPL,,,
LA0001,01/05/2023,S,C1,N1,U4,PR1,15/08/23,X1,,,,
LA0010,02/02/23,S,V2,N4,U6,PR1,,,,,,
LA0010,03/03/2023,B,E1
LA0099,02/02/2023,S,J1,N4,U6,PR1,,,,,,
"""

SSDA903_MISSING = """CHILD,DOB,MISSING,MIS_START,MIS_END
LA0001,01/06/2015,M,03/09/2023,05/09/2023
LA0010,14/09/2009,A,10/10/23,11/10/23
"""

SSDA903_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<Message><Header><Source><LEA>999</LEA></Source></Header><Children>
<Child><CHILD>LA0001</CHILD><SEX>2</SEX><DOB>2015-06-01</DOB><ETHNIC>WBRI</ETHNIC><UPN>{UPN_OK}</UPN>
  <EPISODES><EPISODE><DECOM>2023-05-01</DECOM><RNE>S</RNE><LS>L2</LS><PLACE>R1</PLACE><DEC>2023-05-09</DEC>
    <REC>X1</REC></EPISODE></EPISODES>
</Child>
</Children></Message>
"""
