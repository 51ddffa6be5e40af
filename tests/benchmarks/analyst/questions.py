"""The questions, phrased as people ask them, and their answers computed here with pandas and
scipy (never with the planner's code). An answer is a tuple of facts the planner's answer must
state: numbers (matched after rounding) and words (matched ignoring case). `REFUSE` marks a
question whose exact answer the planner cannot give: it must refuse, not answer.

Categories: aggregate, filter, group, extreme, count, derived, missing, correlation,
normality, tests, regression, outliers, rows, multi, refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

REFUSE = "refuse"
Expected = Callable[[pd.DataFrame], tuple[Any, ...]] | str


@dataclass(frozen=True)
class Question:
    id: str
    file: str
    text: str
    category: str
    expected: Expected


QUESTIONS: list[Question] = []


def q(file: str, category: str, text: str, expected: Expected) -> None:
    QUESTIONS.append(Question(f"{file.split('.')[0]}-{len(QUESTIONS) + 1}", file, text,
                              category, expected))


def dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series)


def iqr_outliers(values: pd.Series, k: float = 1.5) -> pd.Series:
    q1, q3 = values.quantile(0.25), values.quantile(0.75)
    return values[(values < q1 - k * (q3 - q1)) | (values > q3 + k * (q3 - q1))]


# --- iris ---------------------------------------------------------------------------------
I = "iris.csv"  # noqa: E741
q(I, "filter", "What is the average petal length of setosa flowers?",
  lambda d: (d[d.species == "setosa"].petal_length.mean(),))
q(I, "group", "mean sepal width for each species",
  lambda d: tuple(d.groupby("species").sepal_width.mean()))
q(I, "aggregate", "whats the median petal width", lambda d: (d.petal_width.median(),))
q(I, "correlation", "Is there a correlation between petal length and petal width? give the "
  "pearson coefficient and p-value",
  lambda d: (stats.pearsonr(d.petal_length, d.petal_width)[0],))
q(I, "normality", "Is sepal_length normally distributed? Use the Shapiro-Wilk test at alpha "
  "0.05", lambda d: (stats.shapiro(d.sepal_length)[0], "normality rejected"
                     if stats.shapiro(d.sepal_length)[1] < 0.05 else "not rejected"))
q(I, "tests", "Do sepal lengths differ between the species? run a one-way ANOVA",
  lambda d: (stats.f_oneway(*[g.sepal_length for _, g in d.groupby("species")])[0],))
q(I, "count", "how many flowers have a sepal length greater than 6?",
  lambda d: (int((d.sepal_length > 6).sum()),))
q(I, "extreme", "Which species has the highest average petal length?",
  lambda d: (d.groupby("species").petal_length.mean().idxmax(),
             d.groupby("species").petal_length.mean().max()))
q(I, "filter", "max sepal width among virginica with petal length over 5.5",
  lambda d: (d[(d.species == "virginica") & (d.petal_length > 5.5)].sepal_width.max(),))
q(I, "tests", "t-test comparing petal width between versicolor and virginica",
  lambda d: (stats.ttest_ind(d[d.species == "versicolor"].petal_width,
                             d[d.species == "virginica"].petal_width)[0],))
q(I, "outliers", "Are there any outliers in sepal_width using the IQR method? If so, how many?",
  lambda d: (len(iqr_outliers(d.sepal_width)),))
q(I, "derived", "average ratio of petal length to petal width",
  lambda d: ((d.petal_length / d.petal_width).mean(),))
q(I, "refuse", "cluster the flowers into 3 groups with k-means", REFUSE)
q(I, "refuse", "predict the species from the petal measurements", REFUSE)
q(I, "refuse", "what's the average stem length?", REFUSE)
q(I, "rows", "how many rows and columns does the data have", lambda d: (150, 5))
q(I, "aggregate", "std dev of petal length", lambda d: (d.petal_length.std(),))
q(I, "group", "number of flowers per species", lambda d: (50,))
q(I, "correlation", "spearman correlation between sepal length and sepal width",
  lambda d: (stats.spearmanr(d.sepal_length, d.sepal_width)[0],))
q(I, "refuse", "Which species is the prettiest?", REFUSE)

# --- wine ---------------------------------------------------------------------------------
W = "wine.csv"
q(W, "aggregate", "What's the mean alcohol content?", lambda d: (d.alcohol.mean(),))
q(W, "group", "average proline by cultivar", lambda d: tuple(d.groupby("cultivar").proline.mean()))
q(W, "filter", "median magnesium for wines with alcohol above 13",
  lambda d: (d[d.alcohol > 13].magnesium.median(),))
q(W, "correlation", "correlation between flavanoids and total phenols",
  lambda d: (d.flavanoids.corr(d.total_phenols),))
q(W, "extreme", "which cultivar has the lowest mean color intensity?",
  lambda d: (d.groupby("cultivar").color_intensity.mean().idxmin(),))
q(W, "count", "How many wines are class_0?", lambda d: (int((d.cultivar == "class_0").sum()),))
q(W, "filter", "average hue of wines where proline is greater than the average proline",
  lambda d: (d[d.proline > d.proline.mean()].hue.mean(),))
q(W, "regression", "Fit a linear regression of alcohol on proline and color_intensity. Report "
  "the coefficients and R-squared",
  lambda d: _ols(d, "alcohol", ["proline", "color_intensity"]))
q(W, "normality", "test whether magnesium follows a normal distribution",
  lambda d: (stats.shapiro(d.magnesium)[0],))
q(W, "outliers", "how many outliers does malic acid have (z-score above 3)?",
  lambda d: (int((np.abs(stats.zscore(d.malic_acid)) > 3).sum()),))
q(W, "refuse", "train a random forest to classify the cultivar", REFUSE)
q(W, "refuse", "what is the average price of the wines?", REFUSE)
q(W, "aggregate", "range of ash values", lambda d: (d.ash.max() - d.ash.min(),))
q(W, "tests", "Is there a significant difference in alcohol between class_0 and class_1?",
  lambda d: (stats.ttest_ind(d[d.cultivar == "class_0"].alcohol,
                             d[d.cultivar == "class_1"].alcohol)[0],))
q(W, "refuse", "what's the average rating of the wines from France?", REFUSE)
q(W, "percent", "what percentage of the wines have more than 13 percent alcohol?",
  lambda d: ((d.alcohol > 13).mean() * 100,))

# --- diabetes -----------------------------------------------------------------------------
D = "diabetes.csv"
q(D, "aggregate", "average bmi", lambda d: (d.bmi.mean(),))
q(D, "group", "mean disease progression by sex",
  lambda d: tuple(d.groupby("sex").progression.mean()))
q(D, "filter", "mean progression for patients older than 50 with bmi above 30",
  lambda d: (d[(d.age > 50) & (d.bmi > 30)].progression.mean(),))
q(D, "correlation", "how strongly is bmi correlated with progression? include the p value",
  lambda d: (stats.pearsonr(d.bmi, d.progression)[0], stats.pearsonr(d.bmi, d.progression)[1]))
q(D, "regression", "simple linear regression of progression on bmi",
  lambda d: _ols(d, "progression", ["bmi"]))
q(D, "regression", "multiple regression: progression ~ bmi, bp and s5, give R^2",
  lambda d: _ols(d, "progression", ["bmi", "bp", "s5"])[-1:])
q(D, "normality", "is the progression variable normally distributed according to "
  "D'Agostino's test?", lambda d: (stats.normaltest(d.progression)[0],))
q(D, "extreme", "what is the age of the patient with the highest progression?",
  lambda d: (d.loc[d.progression.idxmax(), "age"],))
q(D, "count", "how many patients have a blood pressure of at least 100?",
  lambda d: (int((d.bp >= 100).sum()),))
q(D, "refuse", "what is the average glucose level?", REFUSE)
q(D, "refuse", "what's the mean progression for smokers?", REFUSE)
q(D, "tests", "t test of bmi between sex 1 and sex 2",
  lambda d: (stats.ttest_ind(d[d.sex == 1].bmi, d[d.sex == 2].bmi)[0],))
q(D, "aggregate", "What is the 90th percentile of progression?",
  lambda d: (d.progression.quantile(0.9),))
q(D, "derived", "mean of s1 minus s2", lambda d: ((d.s1 - d.s2).mean(),))
q(D, "outliers", "find outliers in s6 with the 1.5 IQR rule",
  lambda d: (len(iqr_outliers(d.s6)),))
q(D, "refuse", "is the effect of bmi on progression causal?", REFUSE)

# --- breast cancer ------------------------------------------------------------------------
B = "breast_cancer.csv"
q(B, "count", "How many tumors are malignant?",
  lambda d: (int((d.diagnosis == "malignant").sum()),))
q(B, "group", "average mean radius for malignant vs benign tumors",
  lambda d: tuple(d.groupby("diagnosis")["mean radius"].mean()))
q(B, "tests", "Perform an independent t-test on mean area between malignant and benign",
  lambda d: (stats.ttest_ind(d[d.diagnosis == "malignant"]["mean area"],
                             d[d.diagnosis == "benign"]["mean area"])[0],))
q(B, "percent", "what proportion of the samples are benign?",
  lambda d: ((d.diagnosis == "benign").mean() * 100,))
q(B, "correlation", "correlation of mean radius and mean texture",
  lambda d: (d["mean radius"].corr(d["mean texture"]),))
q(B, "filter", "median worst area of malignant tumors with mean smoothness below 0.1",
  lambda d: (d[(d.diagnosis == "malignant") & (d["mean smoothness"] < 0.1)]["worst area"]
             .median(),))
q(B, "refuse", "build a classifier for diagnosis and report its accuracy", REFUSE)
q(B, "refuse", "what is the average age of the patients?", REFUSE)
q(B, "normality", "check normality of mean texture for benign tumours (shapiro)",
  lambda d: (stats.shapiro(d[d.diagnosis == "benign"]["mean texture"])[0],))
q(B, "aggregate", "max of worst radius", lambda d: (d["worst radius"].max(),))

# --- cars ---------------------------------------------------------------------------------
C = "cars.csv"
q(C, "aggregate", "What is the average horsepower of the cars?",
  lambda d: (d.Horsepower.mean(),))
q(C, "filter", "average mpg of cars from Japan", lambda d: (
    d[d.Origin == "Japan"].Miles_per_Gallon.mean(),))
q(C, "group", "mean weight per origin", lambda d: tuple(d.groupby("Origin").Weight_in_lbs.mean()))
q(C, "count", "How many cars have 8 cylinders?", lambda d: (int((d.Cylinders == 8).sum()),))
q(C, "extreme", "Which car has the highest horsepower?",
  lambda d: (d.loc[d.Horsepower.idxmax(), "Name"],))
q(C, "missing", "Are there any missing values in Miles_per_Gallon? If so, how many?",
  lambda d: (int(d.Miles_per_Gallon.isna().sum()),))
q(C, "missing", "how many missing values in each column", lambda d: (
    int(d.Miles_per_Gallon.isna().sum()), int(d.Horsepower.isna().sum())))
q(C, "correlation", "correlation between weight and mpg", lambda d: (
    d.Weight_in_lbs.corr(d.Miles_per_Gallon),))
q(C, "filter", "median acceleration for european cars with more than 4 cylinders",
  lambda d: (d[(d.Origin == "Europe") & (d.Cylinders > 4)].Acceleration.median(),))
q(C, "group", "average mpg by number of cylinders",
  lambda d: tuple(d.groupby("Cylinders").Miles_per_Gallon.mean()))
q(C, "tests", "Is there a relationship between origin and number of cylinders? Use a "
  "chi-square test", lambda d: (stats.chi2_contingency(pd.crosstab(d.Origin, d.Cylinders))[0],))
q(C, "tests", "anova of horsepower across origins",
  lambda d: (stats.f_oneway(*[g.Horsepower.dropna() for _, g in d.groupby("Origin")])[0],))
q(C, "regression", "regress mpg on weight and horsepower",
  lambda d: _ols(d, "Miles_per_Gallon", ["Weight_in_lbs", "Horsepower"]))
q(C, "derived", "what is the average power to weight ratio (horsepower divided by weight)?",
  lambda d: ((d.Horsepower / d.Weight_in_lbs).mean(),))
q(C, "filter", "average mpg for cars made after 1975",
  lambda d: (d[dates(d.Year).dt.year > 1975].Miles_per_Gallon.mean(),))
q(C, "missing", "fill the missing horsepower values with the median and then compute the "
  "mean horsepower", lambda d: (d.Horsepower.fillna(d.Horsepower.median()).mean(),))
q(C, "missing", "drop rows with missing mpg, then what's the mean mpg",
  lambda d: (d.Miles_per_Gallon.dropna().mean(),))
q(C, "outliers", "remove outliers from horsepower with the IQR rule and compute the average",
  lambda d: (d.Horsepower[~d.Horsepower.isin(iqr_outliers(d.Horsepower.dropna()))].mean(),))
q(C, "refuse", "what's the average price of the cars?", REFUSE)
q(C, "refuse", "which car is the most reliable?", REFUSE)
q(C, "refuse", "predict the mpg of a car with 200 horsepower", REFUSE)
q(C, "extreme", "Which origin has the most cars?", lambda d: (d.Origin.value_counts().idxmax(),))
q(C, "rows", "top 5 cars by mpg", lambda d: tuple(
    d.sort_values("Miles_per_Gallon", ascending=False, kind="stable").head(5).Name))
q(C, "aggregate", "whats the avergae acceleration", lambda d: (d.Acceleration.mean(),))
q(C, "filter", "mean horsepower of cars that weigh between 2000 and 3000 lbs",
  lambda d: (d[d.Weight_in_lbs.between(2000, 3000)].Horsepower.mean(),))
q(C, "count", "how many distinct car names are there", lambda d: (d.Name.nunique(),))
q(C, "refuse", "what is the fuel efficiency in liters per 100 km of the average car?", REFUSE)
q(C, "multi", "Filter the cars from the USA. Then find the maximum horsepower.",
  lambda d: (d[d.Origin == "USA"].Horsepower.max(),))
q(C, "refuse", "average horsepower for each brand", REFUSE)
q(C, "group", "median mpg per year", lambda d: tuple(
    d.groupby(dates(d.Year).dt.year).Miles_per_Gallon.median()))
q(C, "aggregate", "most common number of cylinders", lambda d: (d.Cylinders.mode()[0],))

# --- seattle weather ----------------------------------------------------------------------
S = "seattle_weather.csv"
q(S, "aggregate", "What was the average max temperature?", lambda d: (d.temp_max.mean(),))
q(S, "count", "how many days had rain?", lambda d: (int((d.weather == "rain").sum()),))
q(S, "filter", "average wind on sunny days", lambda d: (d[d.weather == "sun"].wind.mean(),))
q(S, "group", "total precipitation per year", lambda d: tuple(
    d.groupby(dates(d.date).dt.year).precipitation.sum()))
q(S, "group", "average max temperature per month", lambda d: tuple(
    d.groupby(dates(d.date).dt.to_period("M").astype(str)).temp_max.mean().head(3)))
q(S, "extreme", "When was the highest max temperature recorded?", lambda d: (
    d.loc[d.temp_max.idxmax(), "date"], d.temp_max.max()))
q(S, "filter", "mean min temperature in 2014", lambda d: (
    d[dates(d.date).dt.year == 2014].temp_min.mean(),))
q(S, "derived", "what is the average daily temperature range (temp_max minus temp_min)?",
  lambda d: ((d.temp_max - d.temp_min).mean(),))
q(S, "percent", "what percentage of days had precipitation above 10?", lambda d: (
    (d.precipitation > 10).mean() * 100,))
q(S, "correlation", "is wind correlated with precipitation? use spearman", lambda d: (
    stats.spearmanr(d.wind, d.precipitation)[0],))
q(S, "extreme", "which weather type has the highest average wind speed?", lambda d: (
    d.groupby("weather").wind.mean().idxmax(),))
q(S, "count", "number of days for each weather type", lambda d: tuple(
    d.weather.value_counts().sort_index()))
q(S, "refuse", "forecast tomorrow's temperature", REFUSE)
q(S, "refuse", "what was the humidity on the rainiest day?", REFUSE)
q(S, "filter", "max precipitation in January 2015", lambda d: (
    d[(dates(d.date) >= "2015-01-01") & (dates(d.date) <= "2015-01-31")].precipitation.max(),),)
q(S, "tests", "do snow days and rain days differ in min temperature? welch t-test", lambda d: (
    stats.ttest_ind(d[d.weather == "snow"].temp_min, d[d.weather == "rain"].temp_min,
                    equal_var=False)[0],))
q(S, "group", "average wind by weekday", lambda d: tuple(
    d.groupby(dates(d.date).dt.day_name()).wind.mean().sort_index()))
q(S, "refuse", "what's the average temperature in fahrenheit?", REFUSE)
q(S, "multi", "Keep only the days with temp_max above 30. How many are there, and what was "
  "their average wind?", lambda d: (int((d.temp_max > 30).sum()), d[d.temp_max > 30].wind.mean()))

# --- stocks -------------------------------------------------------------------------------
K = "stocks.csv"
q(K, "group", "average price for each symbol", lambda d: tuple(d.groupby("symbol").price.mean()))
q(K, "filter", "what was the max price of AAPL?", lambda d: (d[d.symbol == "AAPL"].price.max(),))
q(K, "extreme", "which symbol has the highest average price?", lambda d: (
    d.groupby("symbol").price.mean().idxmax(),))
q(K, "filter", "average IBM price in 2005", lambda d: (
    d[(d.symbol == "IBM") & (dates(d.date).dt.year == 2005)].price.mean(),))
q(K, "extreme", "when did MSFT reach its lowest price?", lambda d: (
    d.loc[d[d.symbol == "MSFT"].price.idxmin(), "date"],))
q(K, "refuse", "what's the monthly return of GOOG?", REFUSE)
q(K, "refuse", "what is the trading volume of AMZN?", REFUSE)
q(K, "count", "how many records does GOOG have", lambda d: (int((d.symbol == "GOOG").sum()),))
q(K, "aggregate", "std of the price of AMZN", lambda d: (d[d.symbol == "AMZN"].price.std(),))
q(K, "refuse", "what is the correlation between MSFT and AAPL prices?", REFUSE)
q(K, "filter", "median price of MSFT or IBM after 2008-01-01", lambda d: (
    d[d.symbol.isin(["MSFT", "IBM"]) & (dates(d.date) > "2008-01-01")].price.median(),))

# --- barley -------------------------------------------------------------------------------
Y = "barley.csv"
q(Y, "group", "average yield per site", lambda d: tuple(d.groupby("site")["yield"].mean()))
q(Y, "filter", "total yield of Manchuria in 1932", lambda d: (
    d[(d.variety == "Manchuria") & (d.year == 1932)]["yield"].sum(),))
q(Y, "extreme", "which variety had the highest total yield?", lambda d: (
    d.groupby("variety")["yield"].sum().idxmax(),))
q(Y, "tests", "Did yield differ between 1931 and 1932? t-test please", lambda d: (
    stats.ttest_ind(d[d.year == 1931]["yield"], d[d.year == 1932]["yield"])[0],))
q(Y, "group", "mean yield by year", lambda d: tuple(d.groupby("year")["yield"].mean()))
q(Y, "tests", "one way anova of yield by site", lambda d: (
    stats.f_oneway(*[g["yield"] for _, g in d.groupby("site")])[0],))
q(Y, "extreme", "the site with the highest yield", REFUSE)
q(Y, "refuse", "what was the rainfall at Waseca?", REFUSE)
q(Y, "count", "how many varieties are there?", lambda d: (d.variety.nunique(),))
q(Y, "aggregate", "the median yield at Crookston", lambda d: (
    d[d.site == "Crookston"]["yield"].median(),))

# --- airports -----------------------------------------------------------------------------
A = "airports.csv"
q(A, "count", "how many airports are in Texas?", REFUSE)
q(A, "count", "how many airports are in the state TX?", lambda d: (int((d.state == "TX").sum()),))
q(A, "group", "top 3 states by number of airports", lambda d: tuple(
    d.state.value_counts().head(3).index))
q(A, "extreme", "which airport is the northernmost (highest latitude)?", lambda d: (
    d.loc[d.latitude.idxmax(), "name"],))
q(A, "aggregate", "average latitude of airports in Alaska (state AK)", lambda d: (
    d[d.state == "AK"].latitude.mean(),))
q(A, "count", "number of airports per country", lambda d: tuple(d.country.value_counts().head(1)))
q(A, "refuse", "what is the busiest airport?", REFUSE)
q(A, "refuse", "how far is JFK from LAX?", REFUSE)
q(A, "missing", "which columns have missing values?", lambda d: tuple(
    int(n) for n in d.isna().sum() if n))
q(A, "rows", "show the first 3 rows", lambda d: tuple(d.head(3).iata))

# --- affairs ------------------------------------------------------------------------------
F = "affairs.csv"
q(F, "aggregate", "average number of years married", lambda d: (d.yrs_married.mean(),))
q(F, "group", "mean affairs by marriage rating", lambda d: tuple(
    d.groupby("rate_marriage").affairs.mean()))
q(F, "filter", "average affairs for women with 2 or more children",
  lambda d: (d[d.children >= 2].affairs.mean(),))
q(F, "correlation", "correlation between religiousness and affairs, with p-value", lambda d: (
    stats.pearsonr(d.religious, d.affairs)[0],))
q(F, "count", "how many women reported no affairs (affairs equal to 0)?", lambda d: (
    int((d.affairs == 0).sum()),))
q(F, "percent", "what percent of respondents have an affairs value greater than 0?", lambda d: (
    (d.affairs > 0).mean() * 100,))
q(F, "regression", "linear regression of affairs on age, yrs_married and religious", lambda d:
  _ols(d, "affairs", ["age", "yrs_married", "religious"]))
q(F, "refuse", "what is the average income of the husbands?", REFUSE)
q(F, "tests", "chi square test between occupation and rate_marriage", lambda d: (
    stats.chi2_contingency(pd.crosstab(d.occupation, d.rate_marriage))[0],))
q(F, "filter", "median age of respondents whose education is above the average education",
  lambda d: (d[d.educ > d.educ.mean()].age.median(),))
q(F, "outliers", "outliers in affairs by zscore > 3: how many?", lambda d: (
    int((np.abs(stats.zscore(d.affairs)) > 3).sum()),))
q(F, "refuse", "are people who have affairs unhappier?", REFUSE)
q(F, "aggregate", "Calculate the mean and standard deviation of age.", lambda d: (
    d.age.mean(), d.age.std()))

# --- state crime --------------------------------------------------------------------------
T = "statecrime.csv"
q(T, "extreme", "which state has the highest murder rate?", lambda d: (
    d.loc[d.murder.idxmax(), "state"],))
q(T, "correlation", "correlation between poverty and violent crime", lambda d: (
    d.poverty.corr(d.violent),))
q(T, "filter", "average violent crime in states where hs_grad is below 85", lambda d: (
    d[d.hs_grad < 85].violent.mean(),))
q(T, "regression", "regress violent on poverty and single", lambda d: _ols(
    d, "violent", ["poverty", "single"]))
q(T, "rows", "top 5 states by poverty", lambda d: tuple(d.nlargest(5, "poverty").state))
q(T, "aggregate", "what is the median urban percentage", lambda d: (d.urban.median(),))
q(T, "refuse", "what is the unemployment rate in Ohio?", REFUSE)
q(T, "filter", "What is the murder rate in Ohio?", lambda d: (
    d[d.state == "Ohio"].murder.iloc[0],))
q(T, "normality", "Is the murder rate normally distributed?", lambda d: (
    stats.shapiro(d.murder)[0],))
q(T, "outliers", "list the outliers in murder (IQR)", lambda d: tuple(iqr_outliers(d.murder)))
q(T, "refuse", "which region of the country has the most crime?", REFUSE)
q(T, "count", "how many states have a poverty rate of more than 15?", lambda d: (
    int((d.poverty > 15).sum()),))

# --- macrodata ----------------------------------------------------------------------------
M = "macrodata.csv"
q(M, "aggregate", "average unemployment rate", lambda d: (d.unemp.mean(),))
q(M, "filter", "average inflation in the 1970s", lambda d: (
    d[(d.year >= 1970) & (d.year <= 1979)].infl.mean(),))
q(M, "group", "mean unemployment for each year", lambda d: tuple(
    d.groupby("year").unemp.mean().head(3)))
q(M, "extreme", "In which year and quarter was unemployment highest?", lambda d: (
    d.loc[d.unemp.idxmax(), "year"], d.loc[d.unemp.idxmax(), "quarter"]))
q(M, "extreme", "which year had the highest average unemployment?", lambda d: (
    d.groupby("year").unemp.mean().idxmax(),))
q(M, "correlation", "correlation between inflation and unemployment (Phillips curve)", REFUSE)
q(M, "correlation", "correlation between infl and unemp", lambda d: (d.infl.corr(d.unemp),))
q(M, "regression", "regress realcons on realdpi", lambda d: _ols(d, "realcons", ["realdpi"]))
q(M, "derived", "mean of the log of realgdp", lambda d: (np.log(d.realgdp).mean(),))
q(M, "refuse", "what's the GDP growth rate each year?", REFUSE)
q(M, "filter", "max tbilrate after 1980", lambda d: (d[d.year > 1980].tbilrate.max(),))
q(M, "aggregate", "what is the average population", lambda d: (d["pop"].mean(),))
q(M, "refuse", "forecast unemployment for 2010", REFUSE)
q(M, "normality", "Test whether infl is normally distributed using a D'Agostino-Pearson test "
  "at the 1% level", lambda d: (stats.normaltest(d.infl)[0],))

# --- grunfeld -----------------------------------------------------------------------------
G = "grunfeld.csv"
q(G, "group", "total investment by firm", lambda d: tuple(
    d.groupby("firm").invest.sum().sort_values(ascending=False).head(3)))
q(G, "extreme", "which firm had the highest total investment?", lambda d: (
    d.groupby("firm").invest.sum().idxmax(),))
q(G, "extreme", "Which firm had the highest investment in a single year?", lambda d: (
    d.loc[d.invest.idxmax(), "firm"],))
q(G, "extreme", "Which firm has the highest investment?", REFUSE)
q(G, "filter", "average capital of General Motors", lambda d: (
    d[d.firm == "General Motors"].capital.mean(),))
q(G, "filter", "mean invest in 1950", lambda d: (d[d.year == 1950].invest.mean(),))
q(G, "correlation", "correlation between value and invest for each firm", lambda d: tuple(
    g.value.corr(g.invest) for _, g in list(d.groupby("firm"))[:2]))
q(G, "regression", "regression of invest on value and capital", lambda d: _ols(
    d, "invest", ["value", "capital"]))
q(G, "refuse", "what is the profit of IBM?", REFUSE)
q(G, "filter", "average invest of IBM between 1940 and 1945", lambda d: (
    d[(d.firm == "IBM") & d.year.between(1940, 1945)].invest.mean(),))
q(G, "count", "how many firms are in the data", lambda d: (d.firm.nunique(),))

# --- longley ------------------------------------------------------------------------------
L = "longley.csv"
q(L, "aggregate", "mean total employment", lambda d: (d.TOTEMP.mean(),))
q(L, "regression", "regress TOTEMP on GNP and POP", lambda d: _ols(d, "TOTEMP", ["GNP", "POP"]))
q(L, "extreme", "which year had the highest unemployment?", lambda d: (
    d.loc[d.UNEMP.idxmax(), "YEAR"],))
q(L, "correlation", "correlation matrix", lambda d: (d.GNP.corr(d.TOTEMP),))
q(L, "filter", "average armed forces after 1955", lambda d: (d[d.YEAR > 1955].ARMED.mean(),))
q(L, "refuse", "what was the inflation rate in 1950?", REFUSE)


# --- more questions that must be refused: a part the planner cannot do exactly -----------
q(I, "refuse", "which measurement is the most important for telling the species apart?", REFUSE)
q(I, "refuse", "normalize the petal columns and show their mean", REFUSE)
q(W, "refuse", "what is the average alcohol of the wines from the best vineyards?", REFUSE)
q(W, "refuse", "do a PCA on the chemical measurements", REFUSE)
q(D, "refuse", "what's the average cholesterol of the patients?", REFUSE)
q(D, "refuse", "split the patients into 4 bmi bins and give the mean progression in each",
  REFUSE)
q(B, "refuse", "what is the survival rate of patients with malignant tumors?", REFUSE)
q(C, "refuse", "which manufacturer makes the most fuel efficient cars?", REFUSE)
q(C, "refuse", "what's the mean horsepower by brand?", REFUSE)
q(C, "refuse", "how has mpg improved per decade, as a percent change?", REFUSE)
q(S, "refuse", "how many heatwaves were there?", REFUSE)
q(S, "refuse", "what is the 7 day moving average of temp_max?", REFUSE)
q(K, "refuse", "which stock had the best return over the whole period?", REFUSE)
q(K, "refuse", "pivot the prices so each symbol is a column", REFUSE)
q(Y, "refuse", "what is the yield per acre at Morris?", REFUSE)
q(A, "refuse", "how many international airports are there?", REFUSE)
q(F, "refuse", "what is the divorce rate among the respondents?", REFUSE)
q(T, "refuse", "what is the average crime in southern states?", REFUSE)
q(M, "refuse", "what was the average interest rate during recessions?", REFUSE)
q(G, "refuse", "what is the market share of each firm?", REFUSE)
q(L, "refuse", "is GNP growth correlated with employment growth?", REFUSE)
q(C, "refuse", "average weight of the cars in kilograms", REFUSE)

# --- more answerable questions ------------------------------------------------------------
q(C, "aggregate", "what is the median weight of the cars in lbs?", lambda d: (
    d.Weight_in_lbs.median(),))
q(C, "filter", "How many cars from Europe have an acceleration of at least 20?", lambda d: (
    int(((d.Origin == "Europe") & (d.Acceleration >= 20)).sum()),))
q(S, "count", "how many foggy days were there in 2012?", lambda d: (
    int(((d.weather == "fog") & (dates(d.date).dt.year == 2012)).sum()),))
q(I, "aggregate", "What is the variance of sepal width?", lambda d: (d.sepal_width.var(),))
q(F, "group", "average rate_marriage by number of children", lambda d: tuple(
    d.groupby("children").rate_marriage.mean()))
q(T, "extreme", "which state has the lowest hs_grad?", lambda d: (
    d.loc[d.hs_grad.idxmin(), "state"],))
q(W, "aggregate", "what are the quartiles of proline?", lambda d: tuple(
    d.proline.quantile([0.25, 0.5, 0.75])))
q(G, "group", "mean capital per year, for the firm IBM", lambda d: tuple(
    d[d.firm == "IBM"].groupby("year").capital.mean().head(3)))
q(B, "count", "How many benign samples have a mean radius above 15?", lambda d: (
    int(((d.diagnosis == "benign") & (d["mean radius"] > 15)).sum()),))
q(M, "multi", "Keep the quarters after 2000. What is the average unemp and the maximum infl?",
  lambda d: (d[d.year > 2000].unemp.mean(), d[d.year > 2000].infl.max()))


def _ols(d: pd.DataFrame, y: str, xs: list[str]) -> tuple[float, ...]:
    import statsmodels.api as sm

    data = d[[y, *xs]].dropna()
    model = sm.OLS(data[y], sm.add_constant(data[xs])).fit()
    return (*model.params.tolist(), model.rsquared)
