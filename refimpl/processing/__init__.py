"""Data pre-processing and task post-processing, one concept per module.

Text tasks: language_modeling (MLM masking, NSP pairs), question_answering (span selection and
span labels), token_classification (label alignment, word aggregation, BIO grouping). Import from
the concept modules directly.
"""
