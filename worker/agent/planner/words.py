"""The closed word lists of the ledger: words that ask for nothing by themselves (filler), and
words that ask for a presentation the planner does not give (said at the top of the answer).

Every other word of a request must be read into a slot of the query, or the request refuses
naming it: a word is never dropped because no rule knew it.
"""

from __future__ import annotations

FILLER = frozenset(
    """
    a an the this that these those it its it's they them their there here of in on at to for
    from with into onto as and or but if so also too please kindly thanks thank hi hello
    hey dear i me my we us our you your can could would should will shall may might must do
    does did done doing be is are was were been being am have has had having get got give
    gives show shows showing display tell let know want need like just quick quickly now then
    what whats what's which who whom whose how where when why find finding calculate
    calculating calculated compute computing computed determine determining report reporting
    return provide identify obtain print list listing produce generate output see view look
    check perform performing conduct conducting run running carry out use using used based
    data dataset datasets file files csv table tables dataframe df sheet spreadsheet excel
    attached uploaded provided given loaded load read open values value number numbers figure
    figures result results answer answers column columns field fields variable variables
    feature features attribute attributes entry entries record records row rows observation
    observations sample samples case cases item items point points line lines some any all
    both either whole entire overall full complete total's exactly
    approximately roughly about around there's one's following respective respectively
    corresponding associated given specified specific particular certain various different
    along via measure measures metric metrics
    statistic stats info information details detail thing things way ways kind kinds type
    types actual real simply basically also just again up out well okay ok yes made built
    produced recorded measured reported observed collected registered listed taken happen
    happened occur occurred occurs seen found located situated reach reached reaches hit
    attain attained content include including includes please
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

# Words that ask how to present or discuss a result; the planner states numbers and verdicts,
# so these are answered by what it shows or said as not done, never silently dropped.
PRESENTATION = frozenset(
    """
    interpret interpretation interpreting explain explanation explaining comment discuss
    discussion describe insight insights conclude conclusion conclusions implication
    implications meaning suggest suggests indicate indicates imply implies
    significance briefly brief short concise detailed summary summarise summarize visualise
    visualize clearly clear nicely format formatted markdown
    """.split()  # noqa: SIM905
)

# Nouns people use for a table's rows; with the file's own name ("cars" for cars.csv) they
# count as "rows".
ROW_NOUNS = frozenset(
    """
    row rows record records entry entries observation observations case cases item items
    sample samples instance instances example examples data point points line lines
    subject subjects participant participants respondent respondents person persons people
    individual individuals patient patients customer customers passenger passengers student
    order orders transaction transactions purchase purchases trip trips ride rides flight
    flights visit visits session sessions ticket tickets review reviews listing listings
    vehicle vehicles company companies store stores shop shops day days
    students employee employees user users player players member members respondent people's
    """.split()  # noqa: SIM905
)

# Words that introduce a request ("Analyze the CSV file and …"): filler beside a question;
# alone, they ask for an overview of the table.
INTRO = frozenset(
    """
    analyze analyse analysis analyzing analysing explore exploring exploration examine
    investigate study inspect overview eda understand
    """.split()  # noqa: SIM905
)

# Units written after a number ("3000 lbs", "over 30 years"): they change no number.
UNITS = frozenset(
    """
    lbs lb pounds pound kg kgs kilograms gram grams g cm mm m meters metres km miles mile
    inches inch feet ft years year yrs months days hours minutes seconds secs mph kph
    dollars dollar usd eur euros euro percent pct degrees degree celsius fahrenheit points
    """.split()  # noqa: SIM905
)
