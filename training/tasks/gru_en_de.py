"""`gru-en-de`: the Multi30k translator, English to German."""

from training.tasks.translate_multi30k import DATA_PARALLEL as DATA_PARALLEL
from training.tasks.translate_multi30k import make_arguments, make_evaluate, make_export, make_train

NAME = "gru-en-de"
add_arguments, train, export, evaluate = make_arguments(NAME), make_train(NAME), make_export(NAME), make_evaluate(NAME)
